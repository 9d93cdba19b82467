"""The governance pages: QA test profiles, an audience's QA cases and runs, submit, review, approve, reject,
pause, resume and retire, per role, with their form errors and the impact shown to reviewers."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audience_ops.audiences import lifecycle, qa
from audience_ops.audiences.choices import AudienceStatus, ReviewState
from audience_ops.audiences.governance_selectors import version_impact
from audience_ops.audiences.models import Audience, AudienceVersion, QARun, QATestProfile, VersionReview
from audience_ops.audiences.services import audience_version_create
from audience_ops.customers.models import Profile
from tests.audiences.helpers import audience_dict, create_audiences, make_profile, track

CART_RULE = {
    "all": [
        {"event": "Product Added", "within": {"days": 3}},
        {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
        {"attribute": "unsubscribed", "op": "ne", "value": True},
    ]
}
# The story's cases: a cart abandoner and the converter in; a recent purchaser and an unsubscribed shopper out.
CASES = [
    {"profile": "qa-abandoner", "expect": "in", "note": "added to cart yesterday"},
    {"profile": "qa-converter", "expect": "in", "note": "anonymous until checkout"},
    {"profile": "qa-buyer", "expect": "out", "note": "bought two hours ago"},
    {"profile": "qa-unsub", "expect": "out", "note": "unsubscribed"},
]
SUPPRESSION_CASES = [
    {"profile": "qa-buyer", "expect": "in", "note": "bought two hours ago"},
    {"profile": "qa-abandoner", "expect": "out"},
    {"profile": "qa-converter", "expect": "out"},
    {"profile": "qa-unsub", "expect": "out"},
]


def client_for(user: AbstractBaseUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


def text(response) -> str:
    return response.content.decode()


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"audiences:{name}", kwargs=kwargs or None)


@pytest.fixture
def cart(marketer) -> Audience:
    """The cart-abandoner pair owned by maria (the suppression is owned by her too) and its QA shoppers."""
    create_audiences(
        audience_dict(
            "purchased-24h",
            {"event": "Order Completed", "within": {"hours": 24}},
            name="Purchased in last 24 hours",
            kind="suppression",
            objective="ads",
        ),
        audience_dict(
            "cart-abandoners-3d",
            CART_RULE,
            name="Cart abandoners, last 3 days",
            objective="ads",
            paired_suppression="purchased-24h",
        ),
    )
    now = timezone.now()
    abandoner = make_profile(external_id="qa-abandoner", email="abandoner@example.com")
    converter = make_profile(external_id="qa-converter", email="converter@example.com", anonymous_ids=("anon-1",))
    buyer = make_profile(external_id="qa-buyer", email="buyer@example.com")
    unsub = make_profile(external_id="qa-unsub", email="unsub@example.com", traits={"unsubscribed": True})
    for profile in (abandoner, converter, buyer, unsub):
        track(profile, "Product Added", now - dt.timedelta(hours=20))
    track(buyer, "Order Completed", now - dt.timedelta(hours=2))
    return Audience.objects.get(slug="cart-abandoners-3d")


def make_live(audience: Audience, *, author: AbstractBaseUser, approver: AbstractBaseUser) -> None:
    """QA, submit and approve the latest version of ``audience`` through the services."""
    cases = SUPPRESSION_CASES if audience.kind == "suppression" else CASES
    qa.qa_cases_save(actor=author, audience=audience, cases=cases)
    qa.qa_run(actor=author, audience=audience, now=timezone.now())
    lifecycle.audience_submit(actor=author, audience=audience)
    lifecycle.audience_approve(actor=approver, audience=audience)


def submitted(cart: Audience, marketer, ops_user) -> VersionReview:
    """The suppression live, the cart audience with passing QA and a pending review."""
    make_live(Audience.objects.get(slug="purchased-24h"), author=marketer, approver=ops_user)
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES)
    qa.qa_run(actor=marketer, audience=cart, now=timezone.now())
    return lifecycle.audience_submit(actor=marketer, audience=cart)


def cases_post(cases: list[dict[str, str]], **extra: str) -> dict[str, str]:
    data = {"cases-TOTAL_FORMS": str(len(cases)), "cases-INITIAL_FORMS": "0", "qa_action": "save"}
    for index, case in enumerate(cases):
        for key in ("profile", "expect", "note"):
            data[f"cases-{index}-{key}"] = case.get(key, "")
    data.update(extra)
    return data


# --- anonymous and role checks -----------------------------------------------------------------------------

GET_PAGES = [
    ("qa_profile_list", {}),
    ("qa_profile_add", {}),
    ("review_list", {}),
    ("qa", {"slug": "cart-abandoners-3d"}),
    ("review", {"slug": "cart-abandoners-3d"}),
    ("retire", {"slug": "cart-abandoners-3d"}),
]
POST_ACTIONS = ["qa", "qa_run", "submit", "approve", "reject", "pause", "resume", "retire"]


@pytest.mark.parametrize(("name", "kwargs"), GET_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(cart, client, name, kwargs):
    target = url(name, **kwargs)

    response = client.get(target)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={target}"


@pytest.mark.parametrize("name", POST_ACTIONS)
def test_anonymous_posts_change_nothing(cart, client, name):
    response = client.post(url(name, slug=cart.slug), {"reason": "x"})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not VersionReview.objects.exists() and not QARun.objects.exists()
    assert cart.versions.count() == 1


@pytest.mark.parametrize(
    ("role", "name", "expected"),
    [
        ("marketer", "qa_profile_list", 200),
        ("ops", "qa_profile_list", 200),
        ("admin", "qa_profile_list", 200),
        ("marketer", "qa_profile_add", 200),
        ("ops", "qa_profile_add", 403),
        ("admin", "qa_profile_add", 403),
        ("marketer", "review_list", 200),
        ("ops", "review_list", 200),
        ("marketer", "qa", 200),
        ("ops", "qa", 200),
        ("admin", "qa", 200),
        ("marketer", "review", 200),
        ("ops", "review", 200),
        ("admin", "retire", 200),
        ("marketer", "retire", 403),
        ("ops", "retire", 403),
    ],
)
def test_each_role_gets_the_right_answer_for_the_pages(request, cart, role, name, expected):
    user = request.getfixturevalue({"marketer": "marketer", "ops": "ops_user", "admin": "admin_user"}[role])
    kwargs = {"slug": cart.slug} if name in ("qa", "review", "retire") else {}

    response = client_for(user).get(url(name, **kwargs))

    assert response.status_code == expected


@pytest.mark.parametrize(
    ("role", "name"),
    [
        ("ops", "qa"),
        ("ops", "qa_run"),
        ("ops", "submit"),
        ("marketer", "approve"),
        ("marketer", "reject"),
        ("admin", "approve"),
        ("marketer", "pause"),
        ("marketer", "resume"),
        ("marketer", "retire"),
        ("ops", "retire"),
    ],
)
def test_a_wrong_role_gets_403_and_nothing_changes(request, cart, marketer, ops_user, role, name):
    # given a pending review, so that approve/reject would have something to act on
    review = submitted(cart, marketer, ops_user)
    user = request.getfixturevalue({"marketer": "marketer", "ops": "ops_user", "admin": "admin_user"}[role])
    versions, runs = cart.versions.count(), QARun.objects.count()

    # when
    response = client_for(user).post(url(name, slug=cart.slug), {**cases_post(CASES[:1]), "reason": "because"})

    # then
    assert response.status_code == 403
    review.refresh_from_db()
    cart.refresh_from_db()
    assert review.state == ReviewState.PENDING
    assert cart.status == AudienceStatus.IN_REVIEW and cart.live_version is None
    assert (cart.versions.count(), QARun.objects.count()) == (versions, runs)


def test_actions_do_not_answer_get(cart, marketer, ops_user):
    for name, user in (("submit", marketer), ("approve", ops_user), ("qa_run", marketer), ("pause", ops_user)):
        assert client_for(user).get(url(name, slug=cart.slug)).status_code == 405


# --- QA test profiles --------------------------------------------------------------------------------------


def test_a_marketer_marks_a_profile_by_email_and_it_is_listed(cart, marketer):
    client = client_for(marketer)

    response = client.post(
        url("qa_profile_add"),
        {"profile": "ABANDONER@example.com", "name": "cart abandoner", "description": "added to cart, no order"},
        follow=True,
    )

    fixture = QATestProfile.objects.get()
    assert (fixture.profile.external_id, fixture.name, fixture.created_by) == (
        "qa-abandoner",
        "cart abandoner",
        marketer,
    )
    assert response.redirect_chain == [(url("qa_profile_list"), 302)]
    page = text(response)
    assert "qa-abandoner is now the QA test profile “cart abandoner”" in page
    assert "added to cart, no order" in page


@pytest.mark.parametrize(
    ("typed", "error"),
    [
        ("nobody@example.com", "No profile has the external id or email “nobody@example.com”."),
        ("", "This field is required."),
    ],
)
def test_adding_an_unknown_profile_shows_the_error_by_the_field(cart, marketer, typed, error):
    response = client_for(marketer).post(url("qa_profile_add"), {"profile": typed, "name": "ghost"})

    assert response.status_code == 400
    assert error in text(response)
    assert not QATestProfile.objects.exists()


def test_a_profile_without_external_id_cannot_be_a_qa_profile(cart, marketer):
    make_profile(email="anon@example.com", anonymous_ids=("anon-9",))

    response = client_for(marketer).post(url("qa_profile_add"), {"profile": "anon@example.com", "name": "anon"})

    assert response.status_code == 400
    assert "has no external id" in text(response)
    assert not QATestProfile.objects.exists()


def test_names_and_profiles_are_unique_in_the_library(cart, marketer):
    qa.qa_test_profile_create(actor=marketer, profile=Profile.objects.get(external_id="qa-buyer"), name="buyer")
    client = client_for(marketer)

    same_name = client.post(url("qa_profile_add"), {"profile": "qa-unsub", "name": "Buyer"})
    same_profile = client.post(url("qa_profile_add"), {"profile": "qa-buyer", "name": "another"})

    assert same_name.status_code == 400 and "already a QA test profile named “Buyer”" in text(same_name)
    assert same_profile.status_code == 400 and "qa-buyer is already the QA test profile “buyer”" in text(same_profile)
    assert QATestProfile.objects.count() == 1


def test_a_marketer_renames_and_removes_a_qa_profile(cart, marketer):
    fixture = qa.qa_test_profile_create(actor=marketer, profile=Profile.objects.get(external_id="qa-buyer"), name="b")
    client = client_for(marketer)

    renamed = client.post(url("qa_profile_edit", pk=fixture.pk), {"name": "recent purchaser", "description": "2h"})
    fixture.refresh_from_db()
    assert renamed.status_code == 302 and (fixture.name, fixture.description) == ("recent purchaser", "2h")

    assert client.get(url("qa_profile_delete", pk=fixture.pk)).status_code == 200
    removed = client.post(url("qa_profile_delete", pk=fixture.pk))
    assert removed.status_code == 302
    assert not QATestProfile.objects.exists()
    assert Profile.objects.filter(external_id="qa-buyer").exists()


def test_ops_reads_the_library_but_cannot_change_it(cart, marketer, ops_user):
    fixture = qa.qa_test_profile_create(actor=marketer, profile=Profile.objects.get(external_id="qa-buyer"), name="b")
    client = client_for(ops_user)

    listing = client.get(url("qa_profile_list"))
    assert listing.status_code == 200 and "qa-buyer" in text(listing)
    assert url("qa_profile_add") not in text(listing)
    assert client.post(url("qa_profile_edit", pk=fixture.pk), {"name": "x"}).status_code == 403
    assert client.post(url("qa_profile_delete", pk=fixture.pk)).status_code == 403
    assert QATestProfile.objects.get().name == "b"


def test_the_profile_page_offers_marking_it_to_marketers_only(cart, marketer, ops_user):
    profile = Profile.objects.get(external_id="qa-buyer")
    link = f"{url('qa_profile_add')}?profile=qa-buyer"

    assert link in text(client_for(marketer).get(profile.get_absolute_url()))
    assert link not in text(client_for(ops_user).get(profile.get_absolute_url()))

    qa.qa_test_profile_create(actor=marketer, profile=profile, name="recent purchaser")
    page = text(client_for(marketer).get(profile.get_absolute_url()))
    assert "QA test profile: recent purchaser" in page and link not in page


def test_the_add_form_starts_with_the_profile_from_the_link(cart, marketer):
    response = client_for(marketer).get(url("qa_profile_add") + "?profile=qa-buyer")

    assert 'value="qa-buyer"' in text(response)


# --- QA cases and runs -------------------------------------------------------------------------------------


def test_saving_cases_writes_a_new_version_and_says_so(cart, marketer):
    response = client_for(marketer).post(url("qa", slug=cart.slug), cases_post(CASES, base_version="1"), follow=True)

    latest = cart.versions.order_by("-number").first()
    assert latest.number == 2
    assert latest.qa == CASES
    assert latest.rule == cart.versions.get(number=1).rule
    assert "Saved 4 QA cases as version 2. A new version has no QA run yet: run QA again." in text(response)


def test_saving_the_same_cases_again_writes_nothing(cart, marketer):
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES)

    response = client_for(marketer).post(url("qa", slug=cart.slug), cases_post(CASES), follow=True)

    assert cart.versions.count() == 2
    assert "The QA cases did not change (still version 2)." in text(response)


def test_a_case_with_an_unknown_profile_is_refused_on_its_row(cart, marketer):
    cases = [*CASES[:2], {"profile": "qa-typo", "expect": "out", "note": ""}]

    response = client_for(marketer).post(url("qa", slug=cart.slug), cases_post(cases))

    assert response.status_code == 400
    assert "No profile has the external id “qa-typo”." in text(response)
    assert 'value="qa-typo"' in text(response)  # what was typed stays
    assert cart.versions.count() == 1


def test_a_stale_form_is_refused_instead_of_overwriting_a_newer_version(cart, marketer):
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES[:2])

    response = client_for(marketer).post(url("qa", slug=cart.slug), cases_post(CASES, base_version="1"))

    assert response.status_code == 409
    assert "changed while you were editing: it is now at version 2" in text(response)
    assert cart.versions.count() == 2


def test_adding_and_removing_rows_with_htmx_returns_only_the_cases(cart, marketer):
    client = client_for(marketer)
    data = cases_post(CASES[:2], qa_action="add")

    added = client.post(url("qa", slug=cart.slug), data, headers={"HX-Request": "true"})

    page = text(added)
    assert added.status_code == 200
    assert "<html" not in page and 'id="qa-cases"' in page
    assert 'name="cases-TOTAL_FORMS" value="3"' in page
    assert 'value="qa-converter"' in page

    removed = client.post(
        url("qa", slug=cart.slug), cases_post(CASES[:2], qa_action="remove:0"), headers={"HX-Request": "true"}
    )
    page = text(removed)
    assert 'name="cases-TOTAL_FORMS" value="1"' in page
    assert 'value="qa-abandoner"' not in page and 'value="qa-converter"' in page
    assert cart.versions.count() == 1


def test_without_htmx_adding_a_row_renders_the_whole_page(cart, marketer):
    response = client_for(marketer).post(url("qa", slug=cart.slug), cases_post([], qa_action="add"))

    assert "<html" in text(response) and 'name="cases-TOTAL_FORMS" value="1"' in text(response)


def test_running_qa_shows_pass_fail_and_the_explanation_of_the_failed_case(cart, marketer):
    # given a wrong expectation: the buyer is expected in
    cases = [*CASES[:2], {"profile": "qa-buyer", "expect": "in", "note": "wrong on purpose"}, CASES[3]]
    qa.qa_cases_save(actor=marketer, audience=cart, cases=cases)

    # when
    response = client_for(marketer).post(url("qa_run", slug=cart.slug), {"as_of": ""}, follow=True)

    # then
    run = QARun.objects.get()
    assert run.version.number == 2 and not run.passed
    page = text(response)
    assert "QA of version 2: 1 of 4 cases failed." in page
    assert page.count('data-result="pass"') == 3 and page.count('data-result="fail"') == 1
    assert 'data-case="qa-buyer" data-passed="false"' in page
    # the failed case's trace is rendered, open, with the suppression that removed the buyer
    assert '<tr class="qa-trace-row" data-trace-for="qa-buyer">' in page
    assert "Purchased in last 24 hours" in page
    assert "last QA run failed (1 of 4 cases)" in page.replace("Last", "last")


def test_qa_runs_at_the_time_given(cart, marketer):
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES)

    client_for(marketer).post(url("qa_run", slug=cart.slug), {"as_of": "2026-01-01T00:00:00Z"})

    run = QARun.objects.get()
    assert run.as_of == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert [result["actual"] for result in run.results] == ["out", "out", "out", "out"]


def test_an_unreadable_as_of_is_reported_and_nothing_runs(cart, marketer):
    response = client_for(marketer).post(url("qa_run", slug=cart.slug), {"as_of": "yesterday"})

    assert response.status_code == 400
    assert "is not an ISO 8601 time" in text(response)
    assert not QARun.objects.exists()


def test_a_new_version_makes_the_last_run_stale_on_the_page(cart, marketer):
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES)
    qa.qa_run(actor=marketer, audience=cart, now=timezone.now())
    audience_version_create(
        audience=cart,
        definition={
            "rule": {"event": "Product Added", "within": {"days": 1}},
            "paired_suppression": "purchased-24h",
            "qa": CASES,
        },
        author=marketer,
    )

    page = text(client_for(marketer).get(url("qa", slug=cart.slug)))

    assert "The last QA run was of version 2" in page
    assert "Version 3 changed the definition, so that run no longer counts: run QA again." in page
    assert "No QA run of version 3" in page


def test_ops_sees_the_cases_read_only(cart, marketer, ops_user):
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES)

    page = text(client_for(ops_user).get(url("qa", slug=cart.slug)))

    assert "qa-converter" in page
    assert 'id="qa-cases-form"' not in page and "Run QA" not in page


# --- the lifecycle panel and submit ------------------------------------------------------------------------


def test_the_panel_lists_what_blocks_submission_and_disables_the_button(cart, marketer):
    page = text(client_for(marketer).get(url("detail", slug=cart.slug)))

    assert 'id="lifecycle"' in page
    assert "Needs at least 4 QA cases (has 0)" in page
    assert 'aria-describedby="submission-problems"' in page  # the disabled submit button points at the list


def test_submitting_before_qa_passes_is_refused_with_the_reasons(cart, marketer):
    response = client_for(marketer).post(url("submit", slug=cart.slug), follow=True)

    assert "cannot be submitted: needs at least 4 QA cases (has 0)" in text(response)
    assert not VersionReview.objects.exists()
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.DRAFT


def test_a_marketer_submits_after_qa_passes(cart, marketer, ops_user):
    suppression = Audience.objects.get(slug="purchased-24h")
    make_live(suppression, author=marketer, approver=ops_user)
    qa.qa_cases_save(actor=marketer, audience=cart, cases=CASES)
    qa.qa_run(actor=marketer, audience=cart, now=timezone.now())

    response = client_for(marketer).post(url("submit", slug=cart.slug), follow=True)

    review = VersionReview.objects.get(version__audience=cart)
    assert review.state == ReviewState.PENDING and review.submitted_by == marketer
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.IN_REVIEW
    assert "Version 2 of Cart abandoners, last 3 days is waiting for review by ops." in text(response)


# --- reviews -----------------------------------------------------------------------------------------------


def test_the_queue_lists_pending_reviews_and_ops_see_the_count(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)

    page = text(client_for(ops_user).get(url("review_list")))

    assert 'id="nav-review-count">1<' in page
    assert "Cart abandoners, last 3 days" in page and url("review", slug=cart.slug) in page
    assert "Purchased in last 24 hours" not in page.split('id="review-table"')[1]  # approved: not pending


def test_ops_sees_the_review_with_author_qa_and_impact(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)

    page = text(client_for(ops_user).get(url("review", slug=cart.slug)))

    assert '<strong id="review-author">maria</strong>' in page
    # no live version: everybody in the proposed version enters (the abandoner and the converter)
    assert 'id="impact-live-size">0<' in page
    assert 'id="impact-proposed-size">2<' in page
    assert 'id="impact-entering">+2<' in page
    assert "qa-abandoner" in page.split('id="impact-entering-sample"')[1]
    assert 'id="approval-blockers"' not in page
    assert "Approve version 2" in page


def test_the_author_sees_why_they_cannot_decide(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)

    page = text(client_for(marketer).get(url("review", slug=cart.slug)))

    assert "Only the ops role approves or rejects versions." in page
    assert 'disabled aria-describedby="approval-blockers"' in page


def test_an_ops_owner_sees_the_four_eyes_reason_and_the_service_refuses(cart, marketer, ops_user):
    # given omar (ops) owns the audience
    submitted(cart, marketer, ops_user)
    Audience.objects.filter(pk=cart.pk).update(owner=ops_user)
    client = client_for(ops_user)

    page = text(client.get(url("review", slug=cart.slug)))
    response = client.post(url("approve", slug=cart.slug), {"launch_at": ""}, follow=True)

    assert "You own this audience: another ops user must review it (four eyes)." in page
    assert "four-eyes rule" in text(response)
    cart.refresh_from_db()
    assert cart.live_version is None and cart.status == AudienceStatus.IN_REVIEW


def test_ops_approves_and_the_audience_is_live(cart, marketer, ops_user):
    review = submitted(cart, marketer, ops_user)

    response = client_for(ops_user).post(url("approve", slug=cart.slug), {"launch_at": ""}, follow=True)

    cart.refresh_from_db()
    assert cart.status == AudienceStatus.LIVE and cart.live_version == review.version
    assert response.redirect_chain == [(url("detail", slug=cart.slug), 302)]
    assert "Approved version 2: Cart abandoners, last 3 days is live." in text(response)


def test_approving_with_a_future_launch_time_leaves_it_approved(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)
    later = (timezone.now() + dt.timedelta(days=2)).replace(second=0, microsecond=0)

    response = client_for(ops_user).post(
        url("approve", slug=cart.slug), {"launch_at": later.strftime("%Y-%m-%dT%H:%M")}, follow=True
    )

    cart.refresh_from_db()
    assert cart.status == AudienceStatus.APPROVED and cart.live_version is None
    assert VersionReview.objects.get(version__audience=cart).launch_at == later
    assert f"it goes live at {later:%Y-%m-%d %H:%M} UTC" in text(response)
    assert f'v2 approved by omar, goes live at <time datetime="{later.isoformat()}">' in text(response)


def test_an_unreadable_launch_time_is_shown_by_the_field(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)

    response = client_for(ops_user).post(url("approve", slug=cart.slug), {"launch_at": "soon"})

    assert response.status_code == 400
    assert "is not an ISO 8601 time" in text(response)
    assert VersionReview.objects.get(version__audience=cart).state == ReviewState.PENDING


def test_a_rejection_needs_a_reason(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)

    response = client_for(ops_user).post(url("reject", slug=cart.slug), {"reason": "   "})

    assert response.status_code == 400
    assert "Give a reason." in text(response)
    assert VersionReview.objects.get(version__audience=cart).state == ReviewState.PENDING


def test_a_rejection_reason_is_shown_to_the_author(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)

    response = client_for(ops_user).post(url("reject", slug=cart.slug), {"reason": "Window too short for TikTok"})
    page = text(client_for(marketer).get(url("detail", slug=cart.slug)))

    assert response.status_code == 302 and response["Location"] == url("review_list")
    assert '<q id="rejection-reason">Window too short for TikTok</q>' in page
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.DRAFT


def test_the_review_of_a_change_shows_the_diff_and_who_enters_and_leaves(cart, marketer, ops_user):
    # given a live cart audience, and a change that narrows the cart window to 12 hours
    submitted(cart, marketer, ops_user)
    lifecycle.audience_approve(actor=ops_user, audience=cart)
    recent = make_profile(external_id="qa-recent", email="recent@example.com")
    track(recent, "Product Added", timezone.now() - dt.timedelta(hours=1))
    narrow = {**CART_RULE, "all": [{"event": "Product Added", "within": {"hours": 12}}, *CART_RULE["all"][1:]]}
    audience_version_create(
        audience=cart,
        definition={"rule": narrow, "paired_suppression": "purchased-24h", "qa": CASES},
        author=marketer,
    )
    qa.qa_cases_save(
        actor=marketer,
        audience=cart,
        cases=[{**case, "expect": "out"} if case["expect"] == "in" else case for case in CASES]
        + [{"profile": "qa-recent", "expect": "in"}],
    )
    qa.qa_run(actor=marketer, audience=cart, now=timezone.now())
    lifecycle.audience_submit(actor=marketer, audience=cart)

    # when
    page = text(client_for(ops_user).get(url("review", slug=cart.slug)))

    # then the live version has 3 members (abandoner, converter, recent), the change keeps only the recent one
    assert 'id="impact-live-size">3<' in page
    assert 'id="impact-proposed-size">1<' in page
    assert 'id="impact-entering">+0<' in page
    assert 'id="impact-leaving">\u22122<' in page
    leaving = page.split('id="impact-leaving-sample"')[1].split("</ul>")[0]
    assert "qa-abandoner" in leaving and "qa-converter" in leaving
    assert 'id="diff-lines"' in page and "&quot;hours&quot;: 12" in page


def test_the_impact_counts_match_the_member_sets_of_both_versions(cart, marketer):
    # given two versions of one audience with overlapping members
    now = timezone.now()
    people = {name: make_profile(external_id=name) for name in ("a", "b", "c", "d")}
    for name in ("a", "b", "c"):
        track(people[name], "Viewed", now - dt.timedelta(hours=1))
    for name in ("b", "c", "d"):
        track(people[name], "Clicked", now - dt.timedelta(hours=1))
    (audience,) = create_audiences(audience_dict("viewers", {"event": "Viewed", "within": {"days": 1}}))
    live = audience.versions.get()
    Audience.objects.filter(pk=audience.pk).update(live_version=live, status=AudienceStatus.LIVE)
    audience.refresh_from_db()
    proposed, _created = audience_version_create(
        audience=audience, definition={"rule": {"event": "Clicked", "within": {"days": 1}}}, author=marketer
    )

    # when
    impact = version_impact(audience=audience, proposed=proposed, now=now, sample_size=1)

    # then
    assert (impact.live_size, impact.proposed_size, impact.entering, impact.leaving) == (3, 3, 1, 1)
    assert [profile.external_id for profile in impact.entering_sample] == ["d"]
    assert [profile.external_id for profile in impact.leaving_sample] == ["a"]


# --- pause, resume, retire ---------------------------------------------------------------------------------


def test_ops_pauses_and_resumes_a_live_audience(cart, marketer, ops_user):
    submitted(cart, marketer, ops_user)
    lifecycle.audience_approve(actor=ops_user, audience=cart)
    client = client_for(ops_user)

    paused = client.post(url("pause", slug=cart.slug), {"reason": "creative refresh"}, follow=True)
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.PAUSED and "Cart abandoners, last 3 days is paused." in text(paused)
    assert "Resume" in text(paused)

    client.post(url("resume", slug=cart.slug))
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.LIVE


def test_resuming_an_audience_that_is_not_paused_is_explained(cart, ops_user):
    response = client_for(ops_user).post(url("resume", slug=cart.slug), follow=True)

    assert response.redirect_chain[-1][0] == url("detail", slug=cart.slug)
    assert 'role="alert"' in text(response)
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.DRAFT


def test_an_admin_retires_with_a_reason_after_confirming(cart, admin_user):
    client = client_for(admin_user)

    confirm = client.get(url("retire", slug=cart.slug))
    missing = client.post(url("retire", slug=cart.slug), {"reason": ""})
    cart.refresh_from_db()
    assert "Retire Cart abandoners, last 3 days?" in text(confirm)
    assert missing.status_code == 400 and "Give a reason." in text(missing)
    assert cart.status == AudienceStatus.DRAFT

    done = client.post(url("retire", slug=cart.slug), {"reason": "campaign ended"}, follow=True)
    cart.refresh_from_db()
    assert cart.status == AudienceStatus.RETIRED
    assert "Cart abandoners, last 3 days is retired." in text(done)


def test_the_panel_shows_each_role_only_its_buttons(cart, marketer, ops_user, admin_user):
    submitted(cart, marketer, ops_user)
    lifecycle.audience_approve(actor=ops_user, audience=cart)
    pages = {
        user.username: text(client_for(user).get(url("detail", slug=cart.slug)))
        for user in (marketer, ops_user, admin_user)
    }

    assert url("pause", slug=cart.slug) not in pages["maria"]
    assert url("retire", slug=cart.slug) not in pages["maria"]
    assert url("submit", slug=cart.slug) in pages["maria"]
    assert url("pause", slug=cart.slug) in pages["omar"] and url("retire", slug=cart.slug) not in pages["omar"]
    assert url("submit", slug=cart.slug) not in pages["omar"]
    assert url("retire", slug=cart.slug) in pages["ada"] and url("pause", slug=cart.slug) in pages["ada"]


def test_unknown_audiences_and_fixtures_are_not_found(marketer, ops_user):
    assert client_for(marketer).get(url("qa", slug="nope")).status_code == 404
    assert client_for(ops_user).get(url("review", slug="nope")).status_code == 404
    assert client_for(marketer).get(url("qa_profile_edit", pk=999)).status_code == 404


def test_approving_when_nothing_is_pending_is_not_found(cart, ops_user):
    assert client_for(ops_user).post(url("approve", slug=cart.slug), {}).status_code == 404
    assert not AudienceVersion.objects.filter(audience=cart, reviews__isnull=False).exists()

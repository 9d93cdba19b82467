"""The audience pages: list, detail, version diff, member CSV, "why" and "Evaluate now", per role."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from redis import Redis
from rq import Queue, SimpleWorker

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.jobs import EVALUATION_QUEUE, evaluate_audience_job
from audience_ops.audiences.models import Audience, AudienceSnapshot, MembershipSpan
from audience_ops.audiences.services import audience_evaluate, audience_import, audience_member_ids
from audience_ops.audiences.ui_selectors import profile_audiences
from audience_ops.audiences.views import builder_url
from audience_ops.core.workers import Worker
from tests.audiences.helpers import make_profile, track
from tests.conftest import PASSWORD

# --- data --------------------------------------------------------------------------------------------------


def audience_payload(slug: str, rule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    data = {
        "slug": slug,
        "name": slug.replace("-", " ").capitalize(),
        "kind": "targeting",
        "objective": "analytics",
        "owner": "maria",
        "purpose": "test audience",
        "retire_on": "2027-12-31",
        "rule": rule,
    }
    data.update(extra)
    return data


CART_RULE = {
    "all": [
        {"event": "Product Added", "within": {"days": 3}},
        {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
        {"attribute": "unsubscribed", "op": "ne", "value": True},
    ]
}


def import_audiences(*items: dict[str, Any]) -> None:
    result = audience_import(payload={"audiences": list(items)})
    assert result.problems == []


@pytest.fixture
def cart(marketer) -> Audience:
    """The spec's cart-abandoner pair: "Cart abandoners" (targeting, ads) with its paired suppression."""
    import_audiences(
        audience_payload(
            "purchased-24h",
            {"event": "Order Completed", "within": {"hours": 24}},
            name="Purchased in last 24 hours",
            kind="suppression",
            objective="ads",
        ),
        audience_payload(
            "cart-abandoners-3d",
            CART_RULE,
            name="Cart abandoners, last 3 days",
            objective="ads",
            paired_suppression="purchased-24h",
            intent="cart",
            offer="full_price",
        ),
    )
    return Audience.objects.get(slug="cart-abandoners-3d")


@pytest.fixture
def shoppers(cart) -> dict[str, Any]:
    """Profiles around the current time: two abandoners (one anonymous), an unsubscribed one and a buyer."""
    now = timezone.now()
    abandoner = make_profile(external_id="gg-1", email="ana@example.com", phone="+15550001111")
    anonymous = make_profile(anonymous_ids=("anon-b", "anon-a"))
    unsubscribed = make_profile(external_id="gg-2", email="ben@example.com", traits={"unsubscribed": True})
    buyer = make_profile(external_id="gg-3", email="cleo, jr@example.com")
    for profile in (abandoner, anonymous, unsubscribed, buyer):
        track(profile, "Product Added", now - dt.timedelta(days=1))
    track(buyer, "Order Completed", now - dt.timedelta(hours=2))
    return {"abandoner": abandoner, "anonymous": anonymous, "unsubscribed": unsubscribed, "buyer": buyer}


@pytest.fixture
def no_role_client(db) -> Client:
    user = get_user_model().objects.create_user(username="nobody", password=PASSWORD)
    client = Client()
    client.force_login(user)
    return client


def role_client(role: str, request: pytest.FixtureRequest) -> Client:
    user = request.getfixturevalue({"marketer": "marketer", "ops": "ops_user", "admin": "admin_user"}[role])
    client = Client()
    client.force_login(user)
    return client


def page_text(response) -> str:
    return response.content.decode()


def snapshot(audience: Audience, at: dt.datetime, size: int, entered: int = 0, exited: int = 0) -> AudienceSnapshot:
    return AudienceSnapshot.objects.create(
        audience=audience,
        version=audience.versions.get(number=1),
        evaluated_at=at,
        size=size,
        entered=entered,
        exited=exited,
        duration_ms=1,
    )


# --- permissions -------------------------------------------------------------------------------------------

READ_PAGES = [
    ("audiences:list", {}),
    ("audiences:detail", {"slug": "cart-abandoners-3d"}),
    ("audiences:diff", {"slug": "cart-abandoners-3d"}),
    ("audiences:why", {"slug": "cart-abandoners-3d"}),
    ("audiences:members_csv", {"slug": "cart-abandoners-3d"}),
]


@pytest.mark.parametrize("role", ["marketer", "ops", "admin"])
@pytest.mark.parametrize(("name", "kwargs"), READ_PAGES)
def test_every_role_can_read_the_audience_pages(request, cart, role, name, kwargs):
    # given
    client = role_client(role, request)

    # when
    response = client.get(reverse(name, kwargs=kwargs))

    # then
    assert response.status_code == 200


@pytest.mark.parametrize(("name", "kwargs"), READ_PAGES)
def test_a_user_without_role_is_refused_the_audience_pages(cart, no_role_client, name, kwargs):
    response = no_role_client.get(reverse(name, kwargs=kwargs))

    assert response.status_code == 403
    assert b"Cart abandoners" not in response.content


@pytest.mark.parametrize(("name", "kwargs"), READ_PAGES)
def test_anonymous_visitors_are_sent_to_the_login_page(cart, client, name, kwargs):
    url = reverse(name, kwargs=kwargs)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_an_unknown_audience_is_not_found(marketer_client):
    for name in ("audiences:detail", "audiences:diff", "audiences:why", "audiences:members_csv"):
        assert marketer_client.get(reverse(name, kwargs={"slug": "no-such-audience"})).status_code == 404


@pytest.mark.parametrize("role", ["marketer", "ops", "admin"])
def test_every_role_can_queue_an_evaluation(request, cart, rq_queues, django_capture_on_commit_callbacks, role):
    # given
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)
    client = role_client(role, request)
    queue = next(queue for queue in rq_queues if queue.name == EVALUATION_QUEUE)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("audiences:evaluate", kwargs={"slug": cart.slug}), follow=True)

    # then
    assert response.redirect_chain == [(reverse("audiences:detail", kwargs={"slug": cart.slug}), 302)]
    assert queue.count == 1
    assert f"Evaluation of {cart.name} queued (job audience-evaluate-{cart.pk})" in page_text(response)


def test_a_user_without_role_cannot_queue_an_evaluation(
    cart, no_role_client, rq_queues, django_capture_on_commit_callbacks
):
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = no_role_client.post(reverse("audiences:evaluate", kwargs={"slug": cart.slug}))

    assert response.status_code == 403
    assert callbacks == []
    assert sum(queue.count for queue in rq_queues) == 0


def test_anonymous_visitors_cannot_queue_an_evaluation(cart, client, rq_queues, django_capture_on_commit_callbacks):
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)
    url = reverse("audiences:evaluate", kwargs={"slug": cart.slug})

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post(url)

    assert response["Location"] == f"{reverse('login')}?next={url}"
    assert callbacks == []
    assert sum(queue.count for queue in rq_queues) == 0


def test_evaluate_now_only_answers_post_with_a_csrf_token(cart, marketer, rq_queues):
    # given a client that enforces CSRF like a browser
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    url = reverse("audiences:evaluate", kwargs={"slug": cart.slug})

    # when / then: GET is not allowed and a POST without the token is refused
    assert client.get(url).status_code == 405
    assert client.post(url).status_code == 403
    assert sum(queue.count for queue in rq_queues) == 0


# --- list --------------------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(marketer, ops_user) -> None:
    """Four audiences with different owners, kinds, objectives, statuses and intents."""
    import_audiences(
        audience_payload("suppress-buyers", {"event": "Order Completed"}, kind="suppression", owner="omar"),
        audience_payload("vip-tier", {"attribute": "tier", "op": "eq", "value": "vip"}, intent="vip"),
        audience_payload("coffee-due", {"event": "Order Completed"}, objective="warehouse", intent="replenish"),
        audience_payload("winback", {"event": "Order Completed"}, intent="winback", owner="omar"),
    )
    Audience.objects.filter(slug="vip-tier").update(status=AudienceStatus.LIVE)


def listed_slugs(response) -> list[str]:
    return [audience.slug for audience in response.context["audiences"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["coffee-due", "suppress-buyers", "vip-tier", "winback"]),
        ({"owner": "omar"}, ["suppress-buyers", "winback"]),
        ({"kind": "suppression"}, ["suppress-buyers"]),
        ({"objective": "warehouse"}, ["coffee-due"]),
        ({"status": "live"}, ["vip-tier"]),
        ({"intent": "winback"}, ["winback"]),
        ({"owner": "omar", "kind": "targeting"}, ["winback"]),
    ],
)
def test_the_list_filters_by_owner_kind_objective_status_and_intent(ops_client, catalogue, query, expected):
    # given the owner filter takes the user's id
    if "owner" in query:
        query = {**query, "owner": get_user_model().objects.get(username=query["owner"]).pk}

    # when
    response = ops_client.get(reverse("audiences:list"), query)

    # then
    assert listed_slugs(response) == expected


def test_an_invalid_filter_value_is_reported_by_field_and_filters_nothing(ops_client, catalogue):
    response = ops_client.get(reverse("audiences:list"), {"kind": "lookalike"})

    assert listed_slugs(response) == ["coffee-due", "suppress-buyers", "vip-tier", "winback"]
    assert "kind: Select a valid choice. lookalike is not one of the available choices." in page_text(response)


def test_the_list_sorts_by_size_with_unevaluated_audiences_last_and_by_name(ops_client, catalogue):
    # given three evaluated sizes and one audience never evaluated (winback)
    at = timezone.now() - dt.timedelta(hours=1)
    for slug, size in (("coffee-due", 40), ("suppress-buyers", 7), ("vip-tier", 120)):
        snapshot(Audience.objects.get(slug=slug), at, size)
    url = reverse("audiences:list")

    # when / then
    assert listed_slugs(ops_client.get(url, {"sort": "-size"})) == [
        "vip-tier",
        "coffee-due",
        "suppress-buyers",
        "winback",
    ]
    assert listed_slugs(ops_client.get(url, {"sort": "size"})) == [
        "suppress-buyers",
        "coffee-due",
        "vip-tier",
        "winback",
    ]
    assert listed_slugs(ops_client.get(url, {"sort": "-name"})) == [
        "winback",
        "vip-tier",
        "suppress-buyers",
        "coffee-due",
    ]
    assert listed_slugs(ops_client.get(url, {"sort": "name"})) == [
        "coffee-due",
        "suppress-buyers",
        "vip-tier",
        "winback",
    ]


def test_the_list_shows_size_change_version_and_not_evaluated(ops_client, catalogue):
    # given vip-tier evaluated 9 and 2 days ago, coffee-due only once, winback never; vip-tier has two versions
    now = timezone.now()
    vip = Audience.objects.get(slug="vip-tier")
    snapshot(vip, now - dt.timedelta(days=9), 100)
    snapshot(vip, now - dt.timedelta(days=2), 130)
    snapshot(Audience.objects.get(slug="coffee-due"), now - dt.timedelta(days=1), 40)
    import_audiences(audience_payload("vip-tier", {"attribute": "tier", "op": "in", "value": ["vip", "gold"]}))

    # when
    response = ops_client.get(reverse("audiences:list"))

    # then
    rows = {audience.slug: audience for audience in response.context["audiences"]}
    assert (rows["vip-tier"].last_size, rows["vip-tier"].size_change, rows["vip-tier"].latest_version) == (130, 30, 2)
    assert (rows["coffee-due"].last_size, rows["coffee-due"].size_change) == (40, None)
    assert (rows["winback"].last_size, rows["winback"].size_change) == (None, None)
    text = page_text(response)
    assert text.count("not evaluated") == 2  # winback and suppress-buyers
    assert "+30" in text
    assert reverse("audiences:detail", kwargs={"slug": "vip-tier"}) in text


def test_the_size_change_looks_back_from_the_last_evaluation(ops_client, catalogue):
    # given snapshots 20, 8 and 1 day(s) ago: the newest at least 7 days before the last one is 8 days ago
    now = timezone.now()
    vip = Audience.objects.get(slug="vip-tier")
    snapshot(vip, now - dt.timedelta(days=20), 10)
    snapshot(vip, now - dt.timedelta(days=8), 90)
    snapshot(vip, now - dt.timedelta(days=1), 60)

    response = ops_client.get(reverse("audiences:list"), {"status": "live"})

    (row,) = response.context["audiences"]
    assert (row.last_size, row.week_ago_size, row.size_change) == (60, 90, -30)


# --- detail ------------------------------------------------------------------------------------------------


def test_the_detail_shows_metadata_definition_and_linked_suppression(marketer_client, cart):
    response = marketer_client.get(reverse("audiences:detail", kwargs={"slug": cart.slug}))

    text = page_text(response)
    assert "Short paid retargeting" not in text  # the purpose written in this test is "test audience"
    assert "test audience" in text
    assert (
        f'<a href="{reverse("audiences:detail", kwargs={"slug": "purchased-24h"})}">Purchased in last 24 hours</a>'
        in text
    )
    assert response.context["definition_text"] == (
        "Did Product Added at least once in the last 3 days, and did not do Order Completed in the last 3 days, "
        "and unsubscribed is not true; minus members of Purchased in last 24 hours"
    )
    assert json.loads(response.context["definition_json"]) == {
        "paired_suppression": "purchased-24h",
        "rule": CART_RULE,
    }
    assert "not evaluated" in text
    assert 'id="size-trend-chart"' not in text
    assert "There is no size history yet" in text


def test_the_detail_links_excluded_audiences(marketer_client, cart):
    import_audiences(audience_payload("winback", {"event": "Order Completed"}, exclude=["cart-abandoners-3d"]))

    response = marketer_client.get(reverse("audiences:detail", kwargs={"slug": "winback"}))

    assert response.context["excludes"] == [("cart-abandoners-3d", cart)]
    assert f'<a href="{reverse("audiences:detail", kwargs={"slug": cart.slug})}">{cart.name}</a>' in page_text(response)


def test_the_detail_shows_the_size_of_the_last_snapshot(marketer_client, cart):
    # given two snapshots, created newest first, so the order of ids does not decide
    now = timezone.now()
    snapshot(cart, now - dt.timedelta(hours=1), 42, entered=5, exited=2)
    snapshot(cart, now - dt.timedelta(hours=3), 17)

    response = marketer_client.get(reverse("audiences:detail", kwargs={"slug": cart.slug}))

    assert response.context["last_snapshot"].size == 42
    assert '<span class="fs-2 fw-semibold" id="current-size">42</span>' in page_text(response)


def test_the_chart_data_equals_the_snapshots(marketer_client, cart):
    # given
    start = timezone.now().replace(microsecond=0) - dt.timedelta(days=3)
    snapshots = [snapshot(cart, start + dt.timedelta(days=day), size, day, 1) for day, size in enumerate((3, 8, 5))]

    # when
    response = marketer_client.get(reverse("audiences:detail", kwargs={"slug": cart.slug}))

    # then the json_script block holds one point per snapshot, oldest first
    text = page_text(response)
    start_tag = '<script id="size-trend-data" type="application/json">'
    data = json.loads(text.split(start_tag, 1)[1].split("</script>", 1)[0])
    assert [(point["evaluated_at"], point["size"], point["entered"], point["exited"]) for point in data] == [
        (item.evaluated_at.astimezone(dt.UTC).isoformat(), item.size, item.entered, item.exited) for item in snapshots
    ]
    assert 'id="size-trend-chart"' in text
    assert "vendor/chart.js/chart.umd.min.js" in text
    assert text.count('<tr><td class="font-monospace-sm"><time') == 3  # the accessible table of the same data


def test_the_members_table_lists_only_current_members(marketer_client, cart, shoppers):
    # given an evaluation now, then the abandoner buys and a later evaluation lets them out
    first = timezone.now()
    audience_evaluate(audience=cart, now=first)
    track(shoppers["abandoner"], "Order Completed", first)
    audience_evaluate(audience=cart, now=first + dt.timedelta(seconds=1))

    response = marketer_client.get(reverse("audiences:detail", kwargs={"slug": cart.slug}))

    assert [span.profile for span in response.context["members"]] == [shoppers["anonymous"]]
    assert MembershipSpan.objects.filter(audience=cart, profile=shoppers["abandoner"], exited_at__isnull=False).exists()
    text = page_text(response)
    assert f"?profile={shoppers['anonymous'].pk}&amp;by=id" in text
    assert "ana@example.com" not in text


def test_the_members_table_is_paginated(marketer_client, cart):
    now = timezone.now()
    for index in range(55):
        track(make_profile(external_id=f"p-{index:02d}"), "Product Added", now - dt.timedelta(hours=1))
    audience_evaluate(audience=cart, now=now)
    url = reverse("audiences:detail", kwargs={"slug": cart.slug})

    first, second = marketer_client.get(url), marketer_client.get(url, {"page": 2})

    assert (len(first.context["members"]), len(second.context["members"])) == (50, 5)
    assert "Page 1 of 2" in page_text(first)


def test_builder_links_are_left_out_while_the_builder_has_no_such_page():
    assert builder_url("no-such-page") is None
    assert builder_url("edit", slug="x") == (reverse("builder:edit", kwargs={"slug": "x"}) if _has_builder() else None)


def _has_builder() -> bool:
    from django.urls import NoReverseMatch

    try:
        reverse("builder:edit", kwargs={"slug": "x"})
    except NoReverseMatch:
        return False
    return True


# --- diff --------------------------------------------------------------------------------------------------


def test_the_diff_shows_the_changed_line_and_both_texts(marketer_client, cart):
    # given version 2 widens the cart window from 3 to 7 days
    changed = json.loads(
        json.dumps(CART_RULE).replace('{"days": 3}}, {"event": "Order', '{"days": 7}}, {"event": "Order')
    )
    import_audiences(
        audience_payload(
            "cart-abandoners-3d",
            changed,
            name="Cart abandoners, last 3 days",
            objective="ads",
            paired_suppression="purchased-24h",
            intent="cart",
            offer="full_price",
        )
    )

    # when
    response = marketer_client.get(reverse("audiences:diff", kwargs={"slug": cart.slug}), {"a": 1, "b": 2})

    # then
    diff = response.context["diff"]
    assert [(line.kind, line.text.strip()) for line in diff.lines if line.kind in ("add", "remove")] == [
        ("remove", '"days": 3'),
        ("add", '"days": 7'),
    ]
    text = page_text(response)
    assert '<span class="diff-line diff-remove">' in text
    assert '<span class="diff-line diff-add">' in text
    assert diff.new_text.startswith("Did Product Added at least once in the last 7 days, and did not do")
    assert "Did Product Added at least once in the last 3 days" in text


def test_the_diff_defaults_to_the_newest_two_versions(marketer_client, cart):
    for days in (5, 6):
        rule = {"event": "Product Added", "within": {"days": days}}
        import_audiences(
            audience_payload("cart-abandoners-3d", rule, objective="ads", paired_suppression="purchased-24h")
        )

    response = marketer_client.get(reverse("audiences:diff", kwargs={"slug": cart.slug}))

    diff = response.context["diff"]
    assert (diff.old.number, diff.new.number) == (2, 3)


def test_the_diff_names_the_parameter_of_a_missing_version(marketer_client, cart):
    response = marketer_client.get(reverse("audiences:diff", kwargs={"slug": cart.slug}), {"a": 1, "b": 9})

    assert response.context["diff"] is None
    assert "b: cart-abandoners-3d has no version 9" in page_text(response)


def test_the_same_version_twice_reads_as_no_change(marketer_client, cart):
    response = marketer_client.get(reverse("audiences:diff", kwargs={"slug": cart.slug}), {"a": 1, "b": 1})

    assert response.context["diff"].identical is True
    assert "The two versions have the same definition." in page_text(response)


# --- CSV export --------------------------------------------------------------------------------------------


def test_the_csv_export_equals_the_members_command_byte_for_byte(ops_client, cart, shoppers):
    # given
    expected = io.StringIO()
    call_command("audiences", "members", cart.slug, stdout=expected)

    # when
    response = ops_client.get(reverse("audiences:members_csv", kwargs={"slug": cart.slug}))

    # then
    body = b"".join(response.streaming_content)
    assert body == expected.getvalue().encode("utf-8")
    assert body == b"external_id,email,phone,anonymous_id\n,,,anon-a\ngg-1,ana@example.com,+15550001111,\n"
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="cart-abandoners-3d-members.csv"'


def test_the_csv_export_of_an_empty_audience_is_the_header(ops_client, cart):
    expected = io.StringIO()
    call_command("audiences", "members", cart.slug, stdout=expected)

    response = ops_client.get(reverse("audiences:members_csv", kwargs={"slug": cart.slug}))

    assert (
        b"".join(response.streaming_content)
        == expected.getvalue().encode()
        == b"external_id,email,phone,anonymous_id\n"
    )


def test_the_csv_export_quotes_like_the_command(ops_client, marketer):
    # given a member whose email holds a comma and a quote
    import_audiences(audience_payload("everyone", {"all": []}))
    make_profile(external_id="q-1", email='o"neil, jr@example.com')
    expected = io.StringIO()
    call_command("audiences", "members", "everyone", stdout=expected)

    response = ops_client.get(reverse("audiences:members_csv", kwargs={"slug": "everyone"}))

    assert b"".join(response.streaming_content) == expected.getvalue().encode()
    assert expected.getvalue().splitlines()[1] == 'q-1,"o""neil, jr@example.com",,'


# --- why ---------------------------------------------------------------------------------------------------


def why(client: Client, audience: Audience, **query: Any):
    return client.get(reverse("audiences:why", kwargs={"slug": audience.slug}), query)


def test_why_explains_a_member_as_in_with_every_condition_matched(marketer_client, cart, shoppers):
    # when
    response = why(marketer_client, cart, profile="ana@example.com")

    # then
    trace = response.context["trace"]
    assert trace.member is True
    assert shoppers["abandoner"].pk in set(audience_member_ids(audience=cart, now=response.context["now"]))
    rule = response.context["rule"]
    assert (rule.kind, rule.matched) == ("all", True)
    assert [(child.label, child.matched) for child in rule.children] == [
        ("did Product Added at least once in the last 3 days", True),
        ("did not do Order Completed in the last 3 days", True),
        ("unsubscribed is not true", True),
    ]
    assert ("unsubscribed", "missing") in rule.children[2].values
    assert ("count in window", "1") in rule.children[0].values
    (suppression,) = response.context["exclusions"]
    assert (suppression.kind, suppression.matched) == ("suppression", False)
    text = page_text(response)
    assert 'data-verdict="in"' in text
    assert text.count('data-matched="true"') == 4


def test_why_explains_an_unsubscribed_profile_as_out_on_that_condition(marketer_client, cart, shoppers):
    response = why(marketer_client, cart, profile="gg-2")

    trace = response.context["trace"]
    assert trace.member is False
    assert shoppers["unsubscribed"].pk not in set(audience_member_ids(audience=cart, now=response.context["now"]))
    assert [child.matched for child in response.context["rule"].children] == [True, True, False]
    assert ("unsubscribed", "true") in response.context["rule"].children[2].values
    assert 'data-verdict="out"' in page_text(response)


def test_why_shows_the_paired_suppression_removing_a_buyer(marketer_client, cart, shoppers):
    response = why(marketer_client, cart, profile="gg-3")

    assert response.context["trace"].member is False
    (suppression,) = response.context["exclusions"]
    assert (suppression.label, suppression.matched) == (
        "minus members of Purchased in last 24 hours (paired suppression)",
        True,
    )
    assert "is a member there, so removed" in page_text(response)


def test_why_finds_profiles_by_anonymous_id_and_by_profile_id(marketer_client, cart, shoppers):
    anonymous = shoppers["anonymous"]

    by_anonymous_id = why(marketer_client, cart, profile="anon-b")
    by_id = why(marketer_client, cart, profile=str(anonymous.pk), by="id")

    assert by_anonymous_id.context["profile"] == anonymous
    assert by_id.context["profile"] == anonymous
    assert by_id.context["trace"].member is True


def test_why_asks_which_profile_when_a_number_is_an_external_id_and_a_profile_id(marketer_client, cart, shoppers):
    # given a profile whose external id is the id of another profile
    other = make_profile(external_id=str(shoppers["buyer"].pk))

    response = why(marketer_client, cart, profile=str(shoppers["buyer"].pk))

    assert response.context["trace"] is None
    assert response.context["lookup"].profiles == [other, shoppers["buyer"]]
    assert f"?profile={shoppers['buyer'].pk}&amp;by=id" in page_text(response)


def test_why_says_when_no_profile_matches(marketer_client, cart):
    response = why(marketer_client, cart, profile="nobody@example.com")

    assert response.context["trace"] is None
    assert "No profile has the external id, email, phone, anonymous id or profile id" in page_text(response)


def test_why_evaluates_at_as_of(marketer_client, cart, shoppers):
    # given: a week ago the abandoner had not added anything yet
    as_of = (timezone.now() - dt.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")

    response = why(marketer_client, cart, profile="gg-1", as_of=as_of)

    assert response.context["now"].strftime("%Y-%m-%dT%H:%M:%SZ") == as_of
    assert response.context["trace"].member is False
    assert response.context["rule"].children[0].matched is False


def test_why_names_the_field_of_an_invalid_time(marketer_client, cart, shoppers):
    response = why(marketer_client, cart, profile="gg-1", as_of="yesterday")

    assert response.context["trace"] is None
    assert "as_of: &quot;yesterday&quot; is not an ISO 8601 time" in page_text(response)


# --- evaluate now ------------------------------------------------------------------------------------------


class BurstWorker(SimpleWorker, Worker):
    """The project's worker running jobs in this process (SimpleWorker), so on this test's database connection."""


def test_evaluate_now_queues_exactly_one_job_and_a_worker_run_records_a_snapshot(
    marketer_client, cart, shoppers, rq_queues, django_capture_on_commit_callbacks
):
    # given a live audience never evaluated
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)
    queue = next(queue for queue in rq_queues if queue.name == EVALUATION_QUEUE)

    # when
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(reverse("audiences:evaluate", kwargs={"slug": cart.slug}))

    # then one job, the scheduler's, for this audience
    assert queue.count == 1
    (job,) = queue.get_jobs()
    assert (job.func, job.args, job.id) == (evaluate_audience_job, (cart.pk,), f"audience-evaluate-{cart.pk}")
    assert AudienceSnapshot.objects.filter(audience=cart).count() == 0

    # when a worker runs the queue
    BurstWorker([queue], connection=queue.connection).work(burst=True)

    # then the evaluation recorded a snapshot with the two abandoners
    (snap,) = AudienceSnapshot.objects.filter(audience=cart)
    assert (snap.size, snap.entered, snap.exited) == (2, 2, 0)
    assert set(MembershipSpan.objects.filter(audience=cart).values_list("profile_id", flat=True)) == {
        shoppers["abandoner"].pk,
        shoppers["anonymous"].pk,
    }
    assert queue.count == 0


def test_evaluate_now_does_not_queue_a_second_job_while_one_waits(
    marketer_client, cart, rq_queues, django_capture_on_commit_callbacks
):
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)
    queue = next(queue for queue in rq_queues if queue.name == EVALUATION_QUEUE)
    url = reverse("audiences:evaluate", kwargs={"slug": cart.slug})
    with django_capture_on_commit_callbacks(execute=True):
        marketer_client.post(url)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = marketer_client.post(url, follow=True)

    assert callbacks == []
    assert queue.count == 1
    assert f"An evaluation of {cart.name} is already queued" in page_text(response)


def test_evaluate_now_refuses_an_audience_that_is_not_live(
    marketer_client, cart, rq_queues, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = marketer_client.post(reverse("audiences:evaluate", kwargs={"slug": cart.slug}), follow=True)

    assert callbacks == []
    assert sum(queue.count for queue in rq_queues) == 0
    assert "status: Cart abandoners, last 3 days is draft; only live audiences are evaluated" in page_text(response)


def test_evaluate_now_reports_an_unreachable_queue(marketer_client, cart, monkeypatch):
    # given a queue on a port where nothing listens
    Audience.objects.filter(pk=cart.pk).update(status=AudienceStatus.LIVE)
    unreachable = Queue(EVALUATION_QUEUE, connection=Redis(host="127.0.0.1", port=1, socket_connect_timeout=1))
    monkeypatch.setattr("audience_ops.audiences.ui_services.django_rq.get_queue", lambda name: unreachable)

    response = marketer_client.post(reverse("audiences:evaluate", kwargs={"slug": cart.slug}), follow=True)

    assert response.redirect_chain == [(reverse("audiences:detail", kwargs={"slug": cart.slug}), 302)]
    assert "The job queue is not reachable, nothing was queued" in page_text(response)
    assert AudienceSnapshot.objects.filter(audience=cart).count() == 0


# --- the profile page's audience list ----------------------------------------------------------------------


def test_profile_audiences_lists_current_memberships_with_why_links(rf, marketer, cart, shoppers):
    # given an evaluation, then the abandoner buys and leaves at the next one
    now = timezone.now()
    audience_evaluate(audience=cart, now=now)
    track(shoppers["abandoner"], "Order Completed", now)
    audience_evaluate(audience=cart, now=now + dt.timedelta(seconds=1))
    anonymous = shoppers["anonymous"]
    request = rf.get("/")
    request.user = marketer

    # when
    memberships = profile_audiences(profile=anonymous)
    html = render_to_string(
        "audiences/_profile_audiences.html", {"profile": anonymous, "memberships": memberships}, request=request
    )

    # then
    assert [span.audience for span in memberships] == [cart]
    assert list(profile_audiences(profile=shoppers["abandoner"])) == []
    assert f'href="{reverse("audiences:why", kwargs={"slug": cart.slug})}?profile={anonymous.pk}&amp;by=id"' in html
    assert "Cart abandoners, last 3 days" in html

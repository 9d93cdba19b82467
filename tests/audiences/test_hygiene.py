"""Retirement queue, near-duplicates, overlap matrix, collisions, extending retirement and the daily notice."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.hygiene import (
    NEAR_DUPLICATE,
    NOT_SYNCED,
    OWNER_INACTIVE,
    PAST_RETIRE_ON,
    audience_extend_retirement,
    canonical_condition,
    definition_fingerprint,
    near_duplicate_pairs,
    near_duplicate_warnings,
    offer_collisions,
    open_span_overlaps,
    overlap_matrix,
    paired_suppression_checks,
    retirement_notify_owners,
    retirement_queue,
)
from audience_ops.audiences.models import Audience, MembershipSpan
from audience_ops.audit.models import AuditEvent
from tests.audiences.helpers import NOW, audience_dict, create_audiences, make_profile

pytestmark = pytest.mark.django_db

CART = {"event": "Product Added", "within": {"days": 3}}
BOUGHT = {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}}
SUBSCRIBED = {"attribute": "unsubscribed", "op": "ne", "value": True}
FUTURE = (timezone.localdate() + dt.timedelta(days=365)).isoformat()


def live(*items: dict, status: str = AudienceStatus.LIVE) -> list[Audience]:
    """Import the audiences and make them live (as approval would), retiring in a year by default."""
    for item in items:
        item.setdefault("retire_on", FUTURE)
    audiences = create_audiences(*items)
    for audience in audiences:
        audience.live_version = audience.versions.order_by("-number").first()
        audience.status = status
        audience.save()
    return audiences


def members(audience: Audience, profiles) -> None:
    """Open membership spans, as an evaluation would leave them."""
    version = audience.versions.order_by("-number").first()
    MembershipSpan.objects.bulk_create(
        MembershipSpan(audience=audience, profile=profile, version=version, entered_at=NOW) for profile in profiles
    )


@pytest.fixture
def people(db):
    return [make_profile(external_id=f"p{index:02d}") for index in range(20)]


# --- normalisation ---------------------------------------------------------------------------------------------


def test_normalised_definitions_ignore_order_nesting_and_defaults():
    a = {"rule": {"all": [CART, BOUGHT, SUBSCRIBED]}, "exclude": ["x", "y"], "paired_suppression": "s"}
    b = {
        "rule": {"all": [SUBSCRIBED, {"all": [BOUGHT, {"any": [CART]}]}, CART]},
        "exclude": ["y", "x", "s"],
        "paired_suppression": "s",
    }
    assert definition_fingerprint(a) == definition_fingerprint(b)
    assert canonical_condition({"event": "X"}) == canonical_condition({"event": "X", "count": {"gte": 1}})
    assert canonical_condition({"not": {"not": CART}}) == canonical_condition(CART)
    assert canonical_condition({"attribute": "tier", "op": "in", "value": ["gold", "vip"]}) == canonical_condition(
        {"attribute": "tier", "op": "in", "value": ["vip", "gold", "vip"]}
    )
    where_ab = {
        "event": "V",
        "where": [{"property": "a", "op": "eq", "value": 1}, {"property": "b", "op": "eq", "value": 2}],
    }
    where_ba = {"event": "V", "where": list(reversed(where_ab["where"]))}
    assert canonical_condition(where_ab) == canonical_condition(where_ba)


@pytest.mark.parametrize(
    "other",
    [
        {"rule": {"any": [CART, BOUGHT]}},  # OR is not AND
        {"rule": {"all": [CART, {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 7}}]}},
        {"rule": {"all": [CART, BOUGHT]}, "exclude": ["x"]},
        {"rule": {"all": [CART, BOUGHT]}, "paired_suppression": "s"},
        {"rule": {"all": [CART, {"attribute": "vip", "op": "eq", "value": 1}]}},
    ],
)
def test_normalised_definitions_keep_real_differences(other):
    base = {"rule": {"all": [CART, BOUGHT]}}
    assert definition_fingerprint(base) != definition_fingerprint(other)
    assert definition_fingerprint({"rule": {"all": [CART, {"attribute": "vip", "op": "eq", "value": True}]}}) != (
        definition_fingerprint({"rule": {"all": [CART, {"attribute": "vip", "op": "eq", "value": 1}]}})
    )


# --- near-duplicates ---------------------------------------------------------------------------------------------


def test_same_definition_in_another_spelling_is_a_near_duplicate(marketer):
    live(
        audience_dict("cart-one", {"all": [CART, BOUGHT]}),
        audience_dict("cart-two", {"all": [BOUGHT, CART]}),
        audience_dict("cart-seven", {"all": [BOUGHT, {"event": "Product Added", "within": {"days": 7}}]}),
    )
    pairs = near_duplicate_pairs()
    assert [(pair.first.slug, pair.second.slug, pair.same_definition) for pair in pairs] == [
        ("cart-one", "cart-two", True)
    ]


def test_membership_overlap_from_the_threshold_is_a_near_duplicate(marketer, people, settings):
    a, b, c, draft = live(
        audience_dict("aud-a", {"event": "A"}),
        audience_dict("aud-b", {"event": "B"}),
        audience_dict("aud-c", {"event": "C"}),
        audience_dict("aud-draft", {"event": "D"}),
    )
    Audience.objects.filter(pk=draft.pk).update(status=AudienceStatus.DRAFT)
    members(a, people[:10])
    members(b, people[:9])  # 9 / 10 = 0.9
    members(c, people[:8])  # with a: 8 / 10; with b: 8 / 9
    members(draft, people[:10])  # identical to a, but not live
    pairs = {(p.first.slug, p.second.slug): p for p in near_duplicate_pairs()}
    assert set(pairs) == {("aud-a", "aud-b")}
    pair = pairs[("aud-a", "aud-b")]
    assert (pair.size_first, pair.size_second, pair.overlap, pair.same_definition) == (10, 9, 9, False)
    assert pair.jaccard == pytest.approx(0.9)
    settings.NEAR_DUPLICATE_JACCARD = 0.85
    assert {(p.first.slug, p.second.slug) for p in near_duplicate_pairs()} == {("aud-a", "aud-b"), ("aud-b", "aud-c")}


def test_overlaps_are_counted_in_one_query_whatever_the_size(marketer, people, django_assert_num_queries):
    a, b = live(audience_dict("aud-a", {"event": "A"}), audience_dict("aud-b", {"event": "B"}))
    members(a, people[:15])
    members(b, people[5:])
    with django_assert_num_queries(1):
        assert open_span_overlaps(audience_ids=[a.pk, b.pk]) == {(a.pk, b.pk): 10}


def test_name_or_definition_warning_for_a_new_audience(marketer):
    live(audience_dict("cart-abandoners", {"all": [CART, BOUGHT]}, name="Cart abandoners, last 3 days"))
    by_name = near_duplicate_warnings(name="cart abandoners, last 3 day", definition={"rule": {"event": "Other"}})
    assert len(by_name) == 1 and "name is nearly identical" in by_name[0] and "cart-abandoners" in by_name[0]
    by_definition = near_duplicate_warnings(name="Something else", definition={"rule": {"all": [BOUGHT, CART]}})
    assert len(by_definition) == 1 and "definition selects exactly" in by_definition[0]
    assert near_duplicate_warnings(name="Winback", definition={"rule": {"event": "Other"}}) == []
    assert (
        near_duplicate_warnings(
            name="Cart abandoners, last 3 days",
            definition={"rule": {"all": [CART, BOUGHT]}},
            exclude_slug="cart-abandoners",
        )
        == []
    )


def test_audience_page_shows_the_near_duplicate_warning(marketer_client, marketer):
    first, _second = live(
        audience_dict("cart-one", {"all": [CART, BOUGHT]}, name="Cart one"),
        audience_dict("cart-two", {"all": [BOUGHT, CART]}, name="Basket leavers"),
    )
    response = marketer_client.get(f"/audiences/{first.slug}/")
    assert response.status_code == 200
    assert "Possible duplicate" in response.text and "cart-two" in response.text


# --- retirement queue ---------------------------------------------------------------------------------------------


def test_queue_lists_each_audience_with_its_reasons(marketer, ops_user, people):
    today = timezone.localdate()
    past = (today - dt.timedelta(days=3)).isoformat()
    overdue, retired, orphan, stale, _fresh, dup_a, dup_b = live(
        audience_dict("overdue", {"event": "A"}, retire_on=past),
        audience_dict("retired-overdue", {"event": "B"}, retire_on=past),
        audience_dict("orphan", {"event": "C"}, owner="omar"),
        audience_dict("stale", {"event": "D"}),
        audience_dict("fresh", {"event": "E"}),
        audience_dict("dup-a", {"event": "F"}),
        audience_dict("dup-b", {"event": "F"}),
    )
    Audience.objects.filter(pk=retired.pk).update(status=AudienceStatus.RETIRED)
    Audience.objects.filter(pk__in=[overdue.pk, orphan.pk, dup_a.pk, dup_b.pk]).update(status=AudienceStatus.PAUSED)
    Audience.objects.filter(pk=dup_a.pk).update(status=AudienceStatus.LIVE)
    Audience.objects.filter(pk=dup_b.pk).update(status=AudienceStatus.LIVE)
    Audience.objects.filter(pk=stale.pk).update(created_at=timezone.now() - dt.timedelta(days=31))
    ops_user.is_active = False
    ops_user.save()

    queue = {candidate.audience.slug: candidate for candidate in retirement_queue()}

    assert set(queue) == {"overdue", "orphan", "stale", "dup-a", "dup-b"}
    assert queue["overdue"].codes == [PAST_RETIRE_ON]
    assert "passed 3 day(s) ago" in queue["overdue"].texts[0]
    assert queue["orphan"].codes == [OWNER_INACTIVE]
    assert queue["stale"].codes == [NOT_SYNCED]
    assert "never synced" in queue["stale"].texts[0]
    assert queue["dup-a"].codes == [NEAR_DUPLICATE] and "dup-b" in queue["dup-a"].texts[0]


def test_unsynced_period_is_a_setting(marketer, settings):
    (audience,) = live(audience_dict("stale", {"event": "D"}))
    Audience.objects.filter(pk=audience.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    assert retirement_queue() == []
    settings.HYGIENE_UNSYNCED_DAYS = 7
    assert [c.codes for c in retirement_queue()] == [[NOT_SYNCED]]


# --- extending the retirement date ----------------------------------------------------------------------------------


def test_admin_extends_retirement_with_reason_and_audit(marketer, admin_user):
    (audience,) = live(audience_dict("overdue", {"event": "A"}, retire_on="2026-01-01"))
    new_date = timezone.localdate() + dt.timedelta(days=60)
    audience_extend_retirement(actor=admin_user, audience=audience, retire_on=new_date, reason="Black Friday rerun")
    audience.refresh_from_db()
    assert audience.retire_on == new_date
    event = AuditEvent.objects.get(action="audience.extend_retirement")
    assert event.actor == admin_user and event.reason == "Black Friday rerun"
    assert event.changes == {"retire_on": ["2026-01-01", new_date.isoformat()]}
    assert retirement_queue() == []


@pytest.mark.parametrize(
    ("days", "reason", "field"),
    [(0, "still needed", "retire_on"), (-5, "still needed", "retire_on"), (30, "  ", "reason")],
)
def test_extension_needs_a_future_date_and_a_reason(marketer, admin_user, days, reason, field):
    (audience,) = live(audience_dict("overdue", {"event": "A"}, retire_on="2026-01-01"))
    with pytest.raises(ValidationError) as caught:
        audience_extend_retirement(
            actor=admin_user, audience=audience, retire_on=timezone.localdate() + dt.timedelta(days=days), reason=reason
        )
    assert field in caught.value.message_dict
    audience.refresh_from_db()
    assert audience.retire_on == dt.date(2026, 1, 1)
    assert not AuditEvent.objects.filter(action="audience.extend_retirement").exists()


def test_only_admins_extend_retirement(marketer, ops_user):
    (audience,) = live(audience_dict("overdue", {"event": "A"}, retire_on="2026-01-01"))
    for user in (marketer, ops_user):
        with pytest.raises(PermissionDenied):
            audience_extend_retirement(
                actor=user, audience=audience, retire_on=timezone.localdate() + dt.timedelta(days=9), reason="x"
            )


# --- daily flagging and notification --------------------------------------------------------------------------------


def test_daily_notice_emails_each_owner_once_per_day(marketer, admin_user):
    live(
        audience_dict("overdue-one", {"event": "A"}, retire_on="2026-01-01"),
        audience_dict("overdue-two", {"event": "B"}, retire_on="2026-01-02"),
        audience_dict("ada-overdue", {"event": "C"}, retire_on="2026-01-03", owner="ada"),
        audience_dict("fine", {"event": "D"}),
    )
    now = timezone.now()

    first = retirement_notify_owners(now=now)

    assert sorted(first.flagged) == ["ada-overdue", "overdue-one", "overdue-two"]
    assert sorted(message.to[0] for message in mail.outbox) == ["ada@example.com", "maria@example.com"]
    maria_mail = next(message for message in mail.outbox if message.to == ["maria@example.com"])
    assert (
        "overdue-one" in maria_mail.body and "overdue-two" in maria_mail.body and "ada-overdue" not in maria_mail.body
    )
    assert AuditEvent.objects.filter(action="audience.retirement_flagged").count() == 3

    again = retirement_notify_owners(now=now)
    assert again.flagged == [] and sorted(again.already_flagged) == ["ada-overdue", "overdue-one", "overdue-two"]
    assert len(mail.outbox) == 2

    retirement_notify_owners(now=now + dt.timedelta(days=1))
    assert len(mail.outbox) == 4


def test_daily_job_is_registered_and_runs(marketer):
    from audience_ops.audiences.hygiene_jobs import flag_retirement_candidates

    live(audience_dict("overdue", {"event": "A"}, retire_on="2026-01-01"))
    assert flag_retirement_candidates()["flagged"] == ["overdue"]
    assert len(mail.outbox) == 1
    source = (__import__("pathlib").Path(__import__("audience_ops").__file__).parent / "cron.py").read_text()
    assert "flag_retirement_candidates" in source


def test_a_failed_email_leaves_the_audience_unflagged(marketer, monkeypatch):
    import audience_ops.audiences.hygiene as hygiene

    live(audience_dict("overdue", {"event": "A"}, retire_on="2026-01-01"))

    def broken(**_kwargs):
        raise OSError("mail server down")

    monkeypatch.setattr(hygiene, "send_mail", broken)
    with pytest.raises(OSError):
        retirement_notify_owners()
    assert not AuditEvent.objects.filter(action="audience.retirement_flagged").exists()


# --- overlap matrix and collisions ---------------------------------------------------------------------------------


def test_overlap_matrix_counts_and_percent_of_the_row(marketer, people):
    a, b, suppression = live(
        audience_dict("aud-a", {"event": "A"}, name="A"),
        audience_dict("aud-b", {"event": "B"}, name="B"),
        audience_dict("supp", {"event": "S"}, name="S", kind="suppression"),
    )
    members(a, people[:10])
    members(b, people[5:10])
    members(suppression, people)
    rows = {row.audience.slug: row for row in overlap_matrix()}
    assert set(rows) == {"aud-a", "aud-b"}
    a_row = {cell.column.slug: (cell.count, cell.percent) for cell in rows["aud-a"].cells}
    b_row = {cell.column.slug: (cell.count, cell.percent) for cell in rows["aud-b"].cells}
    assert a_row == {"aud-a": (10, 100.0), "aud-b": (5, 50.0)}
    assert b_row == {"aud-a": (5, 100.0), "aud-b": (5, 100.0)}


def test_discount_and_full_price_collisions_with_samples(marketer, people):
    discount, full, none, paused_full = live(
        audience_dict("disc", {"event": "A"}, offer="discount"),
        audience_dict("full", {"event": "B"}, offer="full_price"),
        audience_dict("plain", {"event": "C"}),
        audience_dict("paused-full", {"event": "D"}, offer="full_price"),
    )
    Audience.objects.filter(pk=paused_full.pk).update(status=AudienceStatus.PAUSED)
    members(discount, people[:8])
    members(full, people[5:])
    members(none, people)
    members(paused_full, people)
    collisions = offer_collisions(sample_size=2)
    assert [(c.discount.slug, c.full_price.slug, c.count) for c in collisions] == [("disc", "full", 3)]
    assert collisions[0].sample_profile_ids == [people[5].pk, people[6].pk]


def test_paired_suppression_check_is_green_when_empty_and_red_otherwise(marketer, people):
    suppression, targeting, other = live(
        audience_dict("bought", {"event": "Order Completed"}, kind="suppression", objective="ads"),
        audience_dict("cart", {"event": "A"}, objective="ads", paired_suppression="bought"),
        audience_dict("browse", {"event": "B"}, objective="ads", paired_suppression="bought"),
    )
    members(suppression, people[:5])
    members(targeting, people[5:])
    members(other, people[3:])
    checks = {check.audience.slug: check for check in paired_suppression_checks()}
    assert checks["cart"].ok and checks["cart"].count == 0
    assert not checks["browse"].ok and checks["browse"].count == 2
    assert checks["browse"].sample_profile_ids == [people[3].pk, people[4].pk]


# --- "live but not synced anywhere" with the syncs app ------------------------------------------------------------


@pytest.mark.parametrize(
    ("finished_days_ago", "dry_run", "state", "flagged"),
    [
        (5, False, "succeeded", False),
        (40, False, "succeeded", True),
        (5, True, "succeeded", True),  # a dry run sends nothing
        (5, False, "failed", True),
    ],
)
def test_live_audience_is_queued_when_no_sync_succeeded_recently(marketer, finished_days_ago, dry_run, state, flagged):
    from audience_ops.destinations.models import Destination
    from audience_ops.destinations.registry import kinds
    from audience_ops.syncs.models import Sync, SyncRun

    (audience,) = live(audience_dict("synced", {"event": "A"}))
    Audience.objects.filter(pk=audience.pk).update(created_at=timezone.now() - dt.timedelta(days=90))
    destination = Destination.objects.create(name="Meta", kind=kinds()[0][0], config={})
    sync = Sync.objects.create(audience=audience, destination=destination, mode="mirror")
    finished = timezone.now() - dt.timedelta(days=finished_days_ago)
    SyncRun.objects.create(sync=sync, state=state, dry_run=dry_run, as_of=finished, finished_at=finished)
    queue = retirement_queue()
    assert bool(queue) is flagged
    if flagged and state == "succeeded" and not dry_run:
        assert "not synced anywhere since" in queue[0].texts[0]

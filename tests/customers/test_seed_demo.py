"""``seed_demo``: deterministic, realistic demo data with the named QA profiles, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from io import StringIO
from itertools import pairwise

import phonenumbers
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from audience_ops.customers import bulk_load
from audience_ops.customers.bulk_load import DemoDataExists, demo_data_seed
from audience_ops.customers.demo_data import (
    CATALOG,
    CATEGORIES,
    INVALID_PHONES,
    QA_CONVERTER_ANONYMOUS_ID,
    QA_EXTERNAL_IDS,
    default_now,
    demo_profiles,
    phone_region,
)
from audience_ops.customers.models import AnonymousId, Event, Profile

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
FUNNEL = ("Product Viewed", "Product Added", "Checkout Started", "Order Completed", "Order Refunded")
PRODUCT_IDS = {product.product_id for product in CATALOG}


def seed(*, profiles: int = 300, seed: int = 11, now: datetime = NOW, reset: bool = False) -> str:
    out = StringIO()
    call_command("seed_demo", profiles=profiles, seed=seed, now=now, reset=reset, stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Everything loaded, keyed by what identifies it across loads (never by database id)."""

    def owner(profile: Profile) -> str:
        return profile.external_id or ",".join(sorted(a.anonymous_id for a in profile.anonymous_ids.all()))

    profiles = Profile.objects.prefetch_related("anonymous_ids")
    owners = {profile.pk: owner(profile) for profile in profiles}
    return {
        "profiles": {
            owners[p.pk]: (p.email, p.phone, p.traits, p.created_at, p.updated_at) for p in profiles.order_by("id")
        },
        "anonymous_ids": {a.anonymous_id: (owners[a.profile_id], a.linked_at) for a in AnonymousId.objects.all()},
        "events": {
            e.message_id: (owners[e.profile_id], e.name, e.type, e.occurred_at, e.properties)
            for e in Event.objects.all()
        },
    }


def events_of(external_id: str, name: str | None = None) -> list[Event]:
    events = Event.objects.filter(profile__external_id=external_id).order_by("occurred_at")
    return list(events.filter(name=name) if name else events)


# Determinism


def test_same_seed_and_now_give_the_same_rows_after_reset():
    # given
    seed(seed=11)
    first = snapshot()

    # when
    seed(seed=11, reset=True)

    # then
    second = snapshot()
    assert len(first["profiles"]) == 306
    assert len(first["events"]) > 2000
    assert second == first


def test_a_different_seed_gives_different_shoppers_but_the_same_qa_profiles():
    seed(seed=11)
    first = snapshot()

    seed(seed=12, reset=True)

    second = snapshot()
    assert second["profiles"] != first["profiles"]
    assert set(first["events"]).isdisjoint(second["events"])
    for external_id in QA_EXTERNAL_IDS:
        assert second["profiles"][external_id] == first["profiles"][external_id]


def test_the_generator_is_pure_and_counts_message_ids_from_one():
    first = list(demo_profiles(count=50, seed=3, now=NOW))
    second = list(demo_profiles(count=50, seed=3, now=NOW))

    assert first == second
    message_ids = [event.message_id for item in first for event in item.events]
    assert message_ids[0] == "demo-3-0000000001"
    assert message_ids == [f"demo-3-{n:010d}" for n in range(1, len(message_ids) + 1)]
    assert message_ids == sorted(message_ids)


def test_the_generator_rejects_a_naive_now():
    with pytest.raises(ValueError, match="now"):
        next(demo_profiles(count=1, seed=1, now=NOW.replace(tzinfo=None)))


# The QA profiles


def test_qa_profiles_are_present_even_with_no_generated_shoppers():
    output = seed(profiles=0)

    assert sorted(Profile.objects.values_list("external_id", flat=True)) == sorted(QA_EXTERNAL_IDS)
    assert "6 profiles (6 known, 0 anonymous)" in output


def test_qa_profiles_have_glowgrind_emails_and_valid_phones():
    seed(profiles=0)

    for profile in Profile.objects.all():
        assert profile.email == f"qa+{profile.external_id.removeprefix('qa-')}@glowgrind.example"
        number = phonenumbers.parse(profile.phone, phone_region(profile.traits))
        assert phonenumbers.is_valid_number(number), profile.phone


def test_recent_purchaser_ordered_two_hours_ago_after_adding_to_cart():
    seed()

    orders = events_of("qa-recent-purchaser", "Order Completed")
    adds = events_of("qa-recent-purchaser", "Product Added")
    assert orders[-1].occurred_at == NOW - 2 * HOUR
    assert adds
    assert all(add.occurred_at < NOW - 2 * HOUR for add in adds)
    assert max(event.occurred_at for event in events_of("qa-recent-purchaser")) == NOW - 2 * HOUR


@pytest.mark.parametrize(("external_id", "unsubscribed"), [("qa-cart-abandoner", False), ("qa-suppressed", True)])
def test_cart_abandoners_added_a_day_ago_without_a_recent_order(external_id, unsubscribed):
    seed()

    profile = Profile.objects.get(external_id=external_id)
    adds = events_of(external_id, "Product Added")
    orders = events_of(external_id, "Order Completed")
    assert adds[-1].occurred_at == NOW - DAY
    assert [order for order in orders if order.occurred_at > NOW - 10 * DAY] == []
    assert profile.traits["unsubscribed"] is unsubscribed


def test_converter_browsed_anonymously_within_two_days_then_was_identified():
    seed()

    profile = Profile.objects.get(external_id="qa-converter")
    anonymous = AnonymousId.objects.get(anonymous_id=QA_CONVERTER_ANONYMOUS_ID)
    assert anonymous.profile_id == profile.pk
    before_signup = [event for event in events_of("qa-converter") if event.occurred_at < anonymous.linked_at]
    assert {event.name for event in before_signup} >= {"Product Viewed", "Product Added"}
    assert all(event.occurred_at > NOW - 2 * DAY for event in before_signup)
    assert NOW - 2 * DAY < anonymous.linked_at < NOW
    assert events_of("qa-converter", "Order Completed") == []
    assert profile.traits["unsubscribed"] is False
    assert profile.created_at == before_signup[0].occurred_at


def test_refunder_ordered_twenty_days_ago_and_was_refunded_fifteen_days_ago():
    seed()

    (order,) = events_of("qa-refunder", "Order Completed")
    (refund,) = events_of("qa-refunder", "Order Refunded")
    assert order.occurred_at == NOW - 20 * DAY
    assert refund.occurred_at == NOW - 15 * DAY
    assert refund.properties["order_id"] == order.properties["order_id"]


def test_vip_is_gold_with_several_orders_the_last_a_coffee_thirty_days_ago():
    seed()

    profile = Profile.objects.get(external_id="qa-vip")
    orders = events_of("qa-vip", "Order Completed")
    assert profile.traits["vip_tier"] == "gold"
    assert len(orders) >= 3
    assert orders[-1].occurred_at == NOW - 30 * DAY
    assert orders[-1].properties["category"] == "coffee"
    assert NOW - 45 * DAY < orders[-1].occurred_at <= NOW - 25 * DAY


def test_qa_facts_follow_now():
    later = NOW + timedelta(days=3, hours=5)

    seed(now=later)

    assert events_of("qa-recent-purchaser", "Order Completed")[-1].occurred_at == later - 2 * HOUR
    assert events_of("qa-cart-abandoner", "Product Added")[-1].occurred_at == later - DAY


# Shape of the generated data


def test_identifier_coverage_is_realistic_and_imperfect():
    seed(profiles=1000)

    generated = Profile.objects.exclude(external_id__in=QA_EXTERNAL_IDS)
    known = generated.filter(external_id__isnull=False)
    anonymous = generated.filter(external_id__isnull=True)
    assert 0.15 <= anonymous.count() / 1000 <= 0.25
    assert 0.80 <= known.filter(email__isnull=False).count() / known.count() <= 0.90
    assert 0.54 <= known.filter(phone__isnull=False).count() / known.count() <= 0.66
    assert all(re.fullmatch(r"cus_\d{6}", external_id) for external_id in known.values_list("external_id", flat=True))
    emails = list(known.exclude(email=None).values_list("email", flat=True))
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\.\d+@example\.(com|net|org)", e.strip().lower()) for e in emails)
    assert any(e != e.strip() for e in emails)
    assert any(e.strip() != e.strip().lower() for e in emails)
    assert len({e.strip().lower() for e in emails}) == len(emails)
    phones = list(known.exclude(phone=None).values_list("phone", flat=True))
    assert any(re.fullmatch(r"\(\d{3}\) \d{3}-\d{4}", p) for p in phones)
    assert any(p.startswith("+1 ") for p in phones)
    assert any(p.startswith("+44 ") for p in phones)
    assert any(p.startswith(("+49 ", "030 ")) for p in phones)
    assert any(p in INVALID_PHONES for p in phones)
    assert anonymous.exclude(email=None).count() == 0
    assert anonymous.exclude(phone=None).count() == 0


def test_phones_meant_to_be_valid_are_valid_and_the_broken_ones_are_not():
    seed(profiles=1000)

    checked = 0
    for phone, traits in Profile.objects.exclude(phone=None).values_list("phone", "traits"):
        try:
            valid = phonenumbers.is_valid_number(phonenumbers.parse(phone, phone_region(traits)))
        except phonenumbers.NumberParseException:
            valid = False
        assert valid is (phone not in INVALID_PHONES), phone
        checked += 1
    assert checked > 400


def test_traits_mostly_present_some_missing_a_few_null():
    seed(profiles=1000)

    traits = list(Profile.objects.filter(external_id__startswith="cus_").values_list("traits", flat=True))
    for name in ("vip_tier", "return_rate", "unsubscribed", "country", "support_escalated", "first_name"):
        present = [t for t in traits if name in t]
        assert 0.6 * len(traits) < len(present) < len(traits), name
    for name in ("vip_tier", "return_rate", "unsubscribed"):
        assert any(name in t and t[name] is None for t in traits), name
    assert {t["vip_tier"] for t in traits if t.get("vip_tier")} == {"none", "silver", "gold"}
    assert {t["country"] for t in traits if t.get("country")} == {"US", "GB", "DE", "FR", "CA"}
    countries = Counter(t.get("country") for t in traits)
    assert countries["US"] > len(traits) / 2
    rates = [t["return_rate"] for t in traits if t.get("return_rate") is not None]
    assert all(isinstance(rate, int | float) and 0 <= rate <= 1 for rate in rates)
    flags = [t["unsubscribed"] for t in traits if isinstance(t.get("unsubscribed"), bool)]
    assert 0.04 <= sum(flags) / len(flags) <= 0.13
    assert any(t.get("support_escalated") is True for t in traits)


def test_event_times_are_never_after_now_and_cover_the_audience_windows():
    seed()

    times = list(Event.objects.values_list("occurred_at", flat=True))
    assert max(times) <= NOW
    assert min(times) >= NOW - 415 * DAY
    assert min(times) < NOW - 350 * DAY
    for newest, oldest in ((0, 3), (25, 45), (90, 180)):
        window = Event.objects.filter(occurred_at__lte=NOW - newest * DAY, occurred_at__gt=NOW - oldest * DAY)
        assert window.filter(name="Product Added").exists(), (newest, oldest)
        assert window.filter(name="Order Completed").exists(), (newest, oldest)
    coffee_due = Event.objects.filter(
        name="Order Completed", properties__category="coffee", occurred_at__gt=NOW - 45 * DAY
    ).filter(occurred_at__lte=NOW - 25 * DAY)
    assert coffee_due.exclude(profile__external_id="qa-vip").exists()


def test_funnel_narrows_at_every_step_and_refunds_follow_their_orders():
    seed()

    counts = Counter(Event.objects.values_list("name", flat=True))
    assert counts["Product Viewed"] > counts["Product Added"] > counts["Checkout Started"]
    assert counts["Checkout Started"] > counts["Order Completed"] > counts["Order Refunded"] > 0
    assert counts["Page Viewed"] > 0
    assert set(counts) == {*FUNNEL, "Page Viewed"}
    orders = {
        (e.profile_id, e.properties["order_id"]): e.occurred_at for e in Event.objects.filter(name="Order Completed")
    }
    assert len(orders) == counts["Order Completed"]
    for refund in Event.objects.filter(name="Order Refunded"):
        ordered_at = orders[(refund.profile_id, refund.properties["order_id"])]
        assert refund.occurred_at > ordered_at


def test_events_carry_the_commerce_properties():
    seed()

    for event in Event.objects.exclude(name="Page Viewed"):
        props = event.properties
        assert event.type == "track"
        assert props["category"] in CATEGORIES
        assert props["product_id"] in PRODUCT_IDS
        assert isinstance(props["price"], int | float)
        if event.name != "Product Viewed":
            assert props["quantity"] in (1, 2, 3)
        if event.name in ("Order Completed", "Order Refunded"):
            assert props["order_id"]
            assert props["revenue"] == props["total"] == round(props["price"] * props["quantity"], 2)
    pages = Event.objects.filter(name="Page Viewed")
    assert set(pages.values_list("type", flat=True)) == {"page"}
    assert all(path.startswith("/") for path in pages.values_list("properties__path", flat=True))


def test_message_ids_are_deterministic_and_unique():
    seed(seed=11)

    message_ids = list(Event.objects.values_list("message_id", flat=True))
    assert len(message_ids) == len(set(message_ids))
    assert {int(m.removeprefix("demo-11-")) for m in message_ids} == set(range(1, len(message_ids) + 1))


def test_coffee_buyers_reorder_on_a_thirty_day_cycle_and_some_lapse():
    coffee_orders = defaultdict(list)
    for item in demo_profiles(count=3000, seed=5, now=NOW):
        for event in item.events:
            if event.name == "Order Completed" and event.properties["category"] == "coffee":
                coffee_orders[item.profile.external_id].append(event.occurred_at)
    gaps = [(later - earlier) / DAY for times in coffee_orders.values() for earlier, later in pairwise(times)]
    repeaters = [times for times in coffee_orders.values() if len(times) >= 3]
    one_time = [times for times in coffee_orders.values() if len(times) == 1]
    assert len(repeaters) > 50
    assert len(one_time) > 50
    assert 27 <= statistics.median(gaps) <= 33


def test_anonymous_visitors_and_merged_anonymous_ids():
    seed(profiles=1000)

    anonymous = Profile.objects.filter(external_id__isnull=True)
    assert anonymous.count() > 0
    assert not anonymous.filter(anonymous_ids__isnull=True).exists()
    assert set(Event.objects.filter(profile__in=anonymous).values_list("name", flat=True)) <= {
        "Page Viewed",
        "Product Viewed",
        "Product Added",
    }
    assert all(profile.traits == {} for profile in anonymous)
    merged = AnonymousId.objects.filter(profile__external_id__startswith="cus_").select_related("profile")
    assert merged.count() > 50
    with_history = [
        link
        for link in merged
        if Event.objects.filter(profile=link.profile, occurred_at__lt=link.linked_at, name="Page Viewed").exists()
    ]
    assert len(with_history) == merged.count()


def test_created_at_is_the_first_time_the_profile_was_seen():
    seed()

    for profile in Profile.objects.prefetch_related("events", "anonymous_ids"):
        first_event = min(event.occurred_at for event in profile.events.all())
        assert profile.created_at <= first_event
        assert profile.updated_at >= profile.created_at
        if profile.is_anonymous:
            assert profile.created_at == first_event
            assert profile.created_at == min(link.linked_at for link in profile.anonymous_ids.all())


# Reset, refusal and living alongside other data


def test_reset_replaces_all_customer_data():
    # given
    seed(seed=11)
    Profile.objects.create(external_id="ingested-later", email="someone@example.com")

    # when
    seed(seed=12, profiles=100, reset=True)

    # then
    assert not Profile.objects.filter(external_id="ingested-later").exists()
    assert not Event.objects.filter(message_id__startswith="demo-11-").exists()
    assert Profile.objects.count() == 106
    assert Event.objects.filter(message_id="demo-12-0000000001").exists()


def test_refuses_to_load_the_same_seed_twice_without_reset():
    seed(seed=11)
    before = (Profile.objects.count(), Event.objects.count(), AnonymousId.objects.count())

    with pytest.raises(CommandError, match=r"seed 11 is already loaded.*--reset"):
        seed(seed=11)

    assert (Profile.objects.count(), Event.objects.count(), AnonymousId.objects.count()) == before


def test_refuses_to_load_another_seed_over_existing_demo_data_without_reset():
    seed(seed=11)
    before = Event.objects.count()

    with pytest.raises(CommandError, match=r"qa-cart-abandoner.*--reset"):
        seed(seed=12)

    assert Event.objects.count() == before
    assert not Event.objects.filter(message_id__startswith="demo-12-").exists()


def test_loads_next_to_other_customer_data_and_the_id_sequence_moves_past_it():
    # given
    existing = Profile.objects.create(external_id="cus_real_1", email="real@example.com")

    # when
    seed(profiles=50)
    created = Profile.objects.create(external_id="after-seed")

    # then
    assert Profile.objects.filter(pk=existing.pk, external_id="cus_real_1").exists()
    assert Profile.objects.count() == 58
    assert created.pk > Profile.objects.exclude(pk=created.pk).order_by("-pk").first().pk
    assert Profile.objects.filter(external_id__in=QA_EXTERNAL_IDS).order_by("pk").first().pk > existing.pk


def test_a_failed_load_leaves_nothing_behind(monkeypatch):
    # given
    def broken(**kwargs):
        yield from demo_profiles(**kwargs)
        raise RuntimeError("generator failed")

    monkeypatch.setattr(bulk_load, "demo_profiles", broken)

    # when
    with pytest.raises(RuntimeError, match="generator failed"):
        demo_data_seed(profiles=20, seed=1, now=NOW)

    # then
    assert Profile.objects.count() == 0
    assert Event.objects.count() == 0


def test_service_validates_its_arguments_and_names_the_field():
    with pytest.raises(ValueError, match="profiles"):
        demo_data_seed(profiles=-1, seed=1, now=NOW)
    with pytest.raises(ValueError, match="now"):
        demo_data_seed(profiles=1, seed=1, now=NOW.replace(tzinfo=None))
    assert Profile.objects.count() == 0


def test_service_raises_demo_data_exists():
    demo_data_seed(profiles=0, seed=1, now=NOW)

    with pytest.raises(DemoDataExists):
        demo_data_seed(profiles=0, seed=1, now=NOW)


# The command line


def test_command_parses_now_and_prints_a_summary():
    out = StringIO()

    call_command("seed_demo", "--profiles=200", "--seed=4", "--now=2026-11-28T16:00:00+01:00", stdout=out)

    profiles = Profile.objects.count()
    known = Profile.objects.filter(external_id__isnull=False).count()
    line = out.getvalue()
    assert f"{profiles:,} profiles ({known:,} known, {profiles - known:,} anonymous)" in line
    assert f"{Event.objects.count():,} events" in line
    assert "now 2026-11-28T15:00:00Z" in line
    assert " s (" in line
    recent = events_of("qa-recent-purchaser", "Order Completed")[-1]
    assert recent.occurred_at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)


def test_command_reports_progress_at_verbosity_two():
    err = StringIO()

    call_command("seed_demo", "--profiles=10", "--now=2026-11-28T16:00:00Z", "-v", "2", stdout=StringIO(), stderr=err)

    assert "16 profiles written" in err.getvalue()


def test_command_reads_now_without_offset_as_utc():
    call_command("seed_demo", "--profiles=0", "--now=2026-11-28 16:00", stdout=StringIO())

    assert events_of("qa-recent-purchaser", "Order Completed")[-1].occurred_at == NOW - 2 * HOUR


def test_command_rejects_a_bad_now_and_a_negative_count():
    with pytest.raises(CommandError, match="--now"):
        call_command("seed_demo", "--now=yesterday", stdout=StringIO())
    with pytest.raises(CommandError, match="--profiles"):
        call_command("seed_demo", "--profiles=-5", stdout=StringIO())
    assert Profile.objects.count() == 0


def test_now_defaults_to_the_current_hour():
    before = default_now(timezone.now())

    call_command("seed_demo", "--profiles=0", stdout=StringIO())

    after = default_now(timezone.now())
    purchased = events_of("qa-recent-purchaser", "Order Completed")[-1].occurred_at
    assert purchased in {before - 2 * HOUR, after - 2 * HOUR}
    assert default_now(datetime(2026, 11, 28, 16, 59, 59, 999, tzinfo=UTC)) == NOW


# PostgreSQL: COPY with the indexes dropped and rebuilt


def _index_and_constraint_definitions() -> set[tuple[str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT indexname, indexdef FROM pg_indexes
            WHERE tablename IN ('customers_event', 'customers_anonymousid', 'customers_profile')
            UNION ALL
            SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid IN (
                'customers_event'::regclass, 'customers_anonymousid'::regclass, 'customers_profile'::regclass
            )
            """
        )
        return set(cursor.fetchall())


@pytest.mark.postgres_only
def test_rebuilding_indexes_restores_every_index_and_constraint():
    if connection.vendor != "postgresql":
        pytest.skip("index rebuild only happens on PostgreSQL")
    # given: rows written earlier in the same transaction, whose deferred foreign-key checks are pending
    before = _index_and_constraint_definitions()
    existing = Profile.objects.create(external_id="ingested")
    Event.objects.create(profile=existing, name="Product Viewed", occurred_at=NOW, message_id="ingested-1")

    # when
    summary = demo_data_seed(profiles=200, seed=2, now=NOW, rebuild_indexes=True)

    # then
    assert _index_and_constraint_definitions() == before
    assert len(before) >= 10
    assert Event.objects.count() == summary.events + 1
    assert Profile.objects.filter(external_id="qa-vip").exists()
    assert Event.objects.get(message_id="ingested-1").profile_id == existing.pk


@pytest.mark.postgres_only
def test_a_failed_load_with_rebuild_restores_the_indexes(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("index rebuild only happens on PostgreSQL")
    before = _index_and_constraint_definitions()

    def broken(**kwargs):
        yield from demo_profiles(**kwargs)
        raise RuntimeError("generator failed")

    monkeypatch.setattr(bulk_load, "demo_profiles", broken)

    with pytest.raises(RuntimeError):
        demo_data_seed(profiles=20, seed=1, now=NOW, rebuild_indexes=True)

    assert _index_and_constraint_definitions() == before
    assert Event.objects.count() == 0

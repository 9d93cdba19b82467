"""The identity rules, one test each, through ``messages_ingest``.

Every test runs twice: each message in its own ingestion (so every rule meets rows already stored) and all
messages in one chunk (so every rule runs in memory before anything is written). Both must agree.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from audience_ops.customers.identity import IngestCounts
from audience_ops.customers.ingestion import messages_ingest
from audience_ops.customers.messages import message_parse
from audience_ops.customers.models import AnonymousId, Event, IdentifyCall, Profile

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=3)


@pytest.fixture(params=["one_call_per_message", "one_chunk"])
def ingest(request):
    def run(*raws: dict[str, Any], received_at: datetime = NOW) -> IngestCounts:
        messages = [message_parse(raw) for raw in raws]
        if request.param == "one_chunk":
            return messages_ingest(messages=messages, received_at=received_at)
        counts = IngestCounts()
        for message in messages:
            counts += messages_ingest(messages=[message], received_at=received_at)
        return counts

    return run


def identify(*, user: str | None = None, anon: str | None = None, traits: dict | None = None, **extra: Any) -> dict:
    return {"type": "identify", "userId": user, "anonymousId": anon, "traits": traits or {}, **extra}


def track(event: str = "Product Viewed", *, user: str | None = None, anon: str | None = None, **extra: Any) -> dict:
    return {"type": "track", "userId": user, "anonymousId": anon, "event": event, **extra}


def profile(external_id: str) -> Profile:
    return Profile.objects.get(external_id=external_id)


def event_ids(owner: Profile) -> list[str]:
    return sorted(owner.events.values_list("message_id", flat=True))


def anonymous_ids(owner: Profile) -> list[str]:
    return sorted(owner.anonymous_ids.values_list("anonymous_id", flat=True))


# Traits ----------------------------------------------------------------------------------------------------


def test_user_id_email_phone_and_other_traits_land_in_their_columns(ingest):
    # when
    counts = ingest(
        identify(
            user="u1",
            traits={"email": "  Ann@Example.com ", "phone": " +1 555 123 4567 ", "plan": "pro", "vip": True},
        )
    )
    # then
    stored = profile("u1")
    assert (stored.email, stored.phone) == ("Ann@Example.com", "+1 555 123 4567")
    assert stored.traits == {"plan": "pro", "vip": True}
    assert counts == IngestCounts(profiles_created=1, identifies_stored=1)


def test_identify_is_recorded_as_an_identify_call(ingest):
    ingest(identify(user="u1", traits={"plan": "pro"}, messageId="id-1", timestamp="2025-05-01T08:00:00Z"))
    call = IdentifyCall.objects.get()
    assert (call.profile, call.message_id, call.traits) == (profile("u1"), "id-1", {"plan": "pro"})
    assert call.sent_at == datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
    assert call.received_at == NOW


def test_track_context_traits_are_ignored(ingest):
    ingest(
        identify(user="u1", traits={"email": "kept@example.com", "plan": "pro"}),
        track(user="u1", context={"traits": {"email": "other@example.com", "plan": "free"}}),
    )
    stored = profile("u1")
    assert stored.email == "kept@example.com"
    assert stored.traits == {"plan": "pro"}


def test_a_trait_set_to_null_is_stored_as_null(ingest):
    ingest(
        identify(user="u1", traits={"email": "a@example.com", "phone": "555", "plan": "pro"}),
        identify(user="u1", traits={"email": None, "plan": None}),
    )
    stored = profile("u1")
    assert stored.email is None
    assert stored.phone == "555"
    assert stored.traits == {"plan": None}


def test_traits_apply_in_receive_order_not_timestamp_order(ingest):
    ingest(
        identify(user="u1", traits={"plan": "gold"}, timestamp="2025-05-02T00:00:00Z"),
        identify(user="u1", traits={"plan": "silver"}, timestamp="2025-05-01T00:00:00Z"),
    )
    assert profile("u1").traits == {"plan": "silver"}


def test_identify_with_only_an_anonymous_id_sets_traits_on_the_anonymous_profile(ingest):
    ingest(identify(anon="a1", traits={"email": "guest@example.com", "newsletter": True}))
    row = AnonymousId.objects.get(anonymous_id="a1")
    assert row.profile.external_id is None
    assert (row.profile.email, row.profile.traits) == ("guest@example.com", {"newsletter": True})


# Anonymous-only and userId-only messages --------------------------------------------------------------------


def test_first_anonymous_message_creates_an_anonymous_profile_and_its_id(ingest):
    counts = ingest(track(anon="a1", messageId="m1"), track(anon="a1", messageId="m2"))
    row = AnonymousId.objects.get()
    assert row.anonymous_id == "a1"
    assert row.profile.external_id is None
    assert row.linked_at == NOW
    assert event_ids(row.profile) == ["m1", "m2"]
    assert Profile.objects.count() == 1
    assert counts == IngestCounts(profiles_created=1, events_stored=2)


def test_anonymous_message_goes_to_the_profile_its_id_points_at(ingest):
    ingest(identify(user="u1", anon="a1"), track(anon="a1", messageId="m1"))
    assert event_ids(profile("u1")) == ["m1"]
    assert Profile.objects.count() == 1


def test_user_id_message_gets_or_creates_its_profile(ingest):
    counts = ingest(track(user="u1", messageId="m1"), track(user="u1", messageId="m2"))
    assert event_ids(profile("u1")) == ["m1", "m2"]
    assert Profile.objects.count() == 1
    assert counts.profiles_created == 1


def test_null_anonymous_id_is_accepted_and_creates_no_anonymous_id(ingest):
    ingest(track(user="u1", anon=None, messageId="m1"))
    assert event_ids(profile("u1")) == ["m1"]
    assert AnonymousId.objects.count() == 0


# Messages with both ids ------------------------------------------------------------------------------------


def test_unknown_anonymous_id_is_linked_to_the_user(ingest):
    counts = ingest(track(user="u1", anon="a1", messageId="m1"))
    row = AnonymousId.objects.get()
    assert (row.anonymous_id, row.profile, row.linked_at) == ("a1", profile("u1"), NOW)
    assert Profile.objects.count() == 1
    assert counts == IngestCounts(profiles_created=1, events_stored=1)


def test_anonymous_profile_is_merged_into_the_known_one(ingest):
    # given an anonymous browsing history and a known customer with traits of their own
    ingest(
        identify(user="u1", traits={"email": "known@example.com", "plan": "gold"}, messageId="k-id"),
        track("Product Viewed", anon="a1", messageId="m1"),
        identify(anon="a1", traits={"email": "anon@example.com", "phone": "555", "plan": "free", "ref": "ad"}),
        track("Product Added", anon="a1", messageId="m2"),
    )
    # when the visitor signs in
    counts = ingest(track("Signed In", user="u1", anon="a1", messageId="m3"))
    # then the anonymous profile is gone and its history belongs to the customer, whose traits win
    known = profile("u1")
    assert Profile.objects.count() == 1
    assert event_ids(known) == ["m1", "m2", "m3"]
    assert known.identify_calls.count() == 2
    assert (known.email, known.phone) == ("known@example.com", "555")
    assert known.traits == {"plan": "gold", "ref": "ad"}
    assert anonymous_ids(known) == ["a1"]
    assert counts.profiles_merged == 1


def test_merge_creates_the_known_profile_when_the_user_is_new(ingest):
    ingest(track(anon="a1", messageId="m1"), identify(anon="a1", traits={"email": "a@example.com"}))
    anonymous_pk = AnonymousId.objects.get().profile_id
    counts = ingest(identify(user="u1", anon="a1", traits={"plan": "pro"}))
    known = profile("u1")
    assert not Profile.objects.filter(pk=anonymous_pk).exists()
    assert Profile.objects.count() == 1
    assert (known.email, known.traits) == ("a@example.com", {"plan": "pro"})
    assert event_ids(known) == ["m1"]
    assert counts == IngestCounts(profiles_created=1, profiles_merged=1, identifies_stored=1)


def test_the_linking_message_traits_apply_after_the_merge(ingest):
    ingest(identify(anon="a1", traits={"plan": "free", "email": "anon@example.com"}))
    ingest(identify(user="u1", anon="a1", traits={"plan": "pro", "email": None}))
    known = profile("u1")
    assert known.traits == {"plan": "pro"}
    assert known.email is None


def test_merge_moves_every_anonymous_id_of_the_anonymous_profile():
    # given an anonymous profile that already owns two anonymous ids, an event and an identify call
    anonymous = Profile.objects.create(traits={"ref": "ad"}, email="anon@example.com")
    AnonymousId.objects.create(anonymous_id="a1", profile=anonymous, linked_at=EARLIER)
    AnonymousId.objects.create(anonymous_id="a2", profile=anonymous, linked_at=EARLIER)
    Event.objects.create(profile=anonymous, name="Product Viewed", occurred_at=EARLIER, message_id="m0")
    IdentifyCall.objects.create(profile=anonymous, message_id="i0", sent_at=EARLIER)
    known = Profile.objects.create(external_id="u1", traits={"plan": "gold"})
    # when one of the ids is linked to the known customer
    counts = messages_ingest(messages=[message_parse(track(user="u1", anon="a2", messageId="m1"))], received_at=NOW)
    # then everything moved over, and both ids were relinked now
    known.refresh_from_db()
    assert not Profile.objects.filter(pk=anonymous.pk).exists()
    assert event_ids(known) == ["m0", "m1"]
    assert list(known.identify_calls.values_list("message_id", flat=True)) == ["i0"]
    assert list(known.anonymous_ids.values_list("anonymous_id", "linked_at")) == [("a1", NOW), ("a2", NOW)]
    assert (known.email, known.traits) == ("anon@example.com", {"ref": "ad", "plan": "gold"})
    assert counts == IngestCounts(profiles_merged=1, events_stored=1)


def test_anonymous_id_of_another_known_profile_is_repointed_and_history_stays(ingest):
    # given a1 linked to u1, with an event
    ingest(identify(user="u1", anon="a1"), track("Product Viewed", anon="a1", messageId="m1"))
    # when a1 is seen with u2 (a shared device), then alone again
    counts = ingest(track("Signed In", user="u2", anon="a1", messageId="m2"), track(anon="a1", messageId="m3"))
    # then the newest link wins for later messages, and u1 keeps what it had
    assert event_ids(profile("u1")) == ["m1"]
    assert event_ids(profile("u2")) == ["m2", "m3"]
    row = AnonymousId.objects.get(anonymous_id="a1")
    assert (row.profile, row.linked_at) == (profile("u2"), NOW)
    assert counts.profiles_merged == 0
    assert Profile.objects.count() == 2


def test_repointing_keeps_both_profiles_traits_apart(ingest):
    ingest(identify(user="u1", anon="a1", traits={"plan": "gold", "email": "one@example.com"}))
    ingest(identify(user="u2", anon="a1", traits={"plan": "free"}))
    assert (profile("u1").traits, profile("u1").email) == ({"plan": "gold"}, "one@example.com")
    assert (profile("u2").traits, profile("u2").email) == ({"plan": "free"}, None)


def test_link_to_the_same_profile_changes_nothing(ingest):
    ingest(identify(user="u1", anon="a1"))
    counts = ingest(track(user="u1", anon="a1", messageId="m1"), received_at=NOW + timedelta(hours=1))
    row = AnonymousId.objects.get()
    assert (row.profile, row.linked_at) == (profile("u1"), NOW)
    assert counts == IngestCounts(events_stored=1)


def test_alias_links_previous_id_like_an_anonymous_id(ingest):
    ingest(track("Product Viewed", anon="visitor-9", messageId="m1"))
    counts = ingest({"type": "alias", "userId": "u1", "previousId": "visitor-9", "messageId": "al-1"})
    known = profile("u1")
    assert Profile.objects.count() == 1
    assert event_ids(known) == ["m1"]
    assert anonymous_ids(known) == ["visitor-9"]
    assert counts == IngestCounts(profiles_created=1, profiles_merged=1)


def test_alias_with_an_unknown_previous_id_only_links_it(ingest):
    ingest({"type": "alias", "userId": "u1", "previousId": "visitor-9"}, track(anon="visitor-9", messageId="m1"))
    assert event_ids(profile("u1")) == ["m1"]
    assert Event.objects.count() == 1
    assert IdentifyCall.objects.count() == 0


# Page, screen, group ---------------------------------------------------------------------------------------


def test_page_and_screen_are_stored_as_viewed_events(ingest):
    ingest(
        {"type": "page", "userId": "u1", "name": "Pricing", "category": "Shop", "properties": {"path": "/p"}},
        {"type": "screen", "userId": "u1", "name": "Cart", "properties": {"items": 2}},
    )
    stored = {event.name: (event.type, event.properties) for event in profile("u1").events.all()}
    assert stored == {
        "Page Viewed": ("page", {"path": "/p", "name": "Pricing", "category": "Shop"}),
        "Screen Viewed": ("screen", {"items": 2, "name": "Cart"}),
    }


def test_group_is_accepted_and_ignored(ingest):
    counts = ingest({"type": "group", "userId": "u1", "anonymousId": "a1", "groupId": "acme", "traits": {"n": 1}})
    assert counts == IngestCounts()
    assert (Profile.objects.count(), AnonymousId.objects.count(), Event.objects.count()) == (0, 0, 0)


# Event time ------------------------------------------------------------------------------------------------


def test_event_time_is_the_timestamp_in_utc_else_original_timestamp_else_receive_time(ingest):
    ingest(
        track(user="u1", messageId="naive", timestamp="2025-05-01T10:00:00"),
        track(user="u1", messageId="offset", timestamp="2025-05-01T10:00:00+02:00"),
        track(user="u1", messageId="original", originalTimestamp="2025-04-01T00:00:00Z"),
        track(user="u1", messageId="none"),
    )
    times = dict(Event.objects.values_list("message_id", "occurred_at"))
    assert times == {
        "naive": datetime(2025, 5, 1, 10, 0, tzinfo=UTC),
        "offset": datetime(2025, 5, 1, 8, 0, tzinfo=UTC),
        "original": datetime(2025, 4, 1, tzinfo=UTC),
        "none": NOW,
    }
    assert set(Event.objects.values_list("received_at", flat=True)) == {NOW}


# Dedupe ----------------------------------------------------------------------------------------------------


def test_repeated_message_id_is_skipped_entirely(ingest):
    # given a stored identify and event
    ingest(identify(user="u1", traits={"plan": "gold"}, messageId="i1"), track(anon="a1", messageId="m1"))
    # when both are delivered again, changed, and one of them would now merge
    counts = ingest(
        identify(user="u1", anon="a1", traits={"plan": "free"}, messageId="i1"),
        track("Other", user="u2", anon="a1", messageId="m1"),
    )
    # then nothing changed
    assert counts == IngestCounts(duplicates_skipped=2)
    assert profile("u1").traits == {"plan": "gold"}
    assert not Profile.objects.filter(external_id="u2").exists()
    assert AnonymousId.objects.get(anonymous_id="a1").profile.external_id is None
    assert Event.objects.get().name == "Product Viewed"
    assert (Profile.objects.count(), Event.objects.count(), IdentifyCall.objects.count()) == (2, 1, 1)


def test_message_id_is_unique_across_events_and_identify_calls(ingest):
    counts = ingest(track(user="u1", messageId="same"), identify(user="u1", traits={"plan": "x"}, messageId="same"))
    assert counts == IngestCounts(profiles_created=1, events_stored=1, duplicates_skipped=1)
    assert profile("u1").traits == {}
    assert IdentifyCall.objects.count() == 0


def test_duplicate_alias_is_skipped_within_one_ingestion():
    messages = [
        message_parse({"type": "alias", "userId": "u1", "previousId": "a1", "messageId": "al"}),
        message_parse({"type": "alias", "userId": "u2", "previousId": "a1", "messageId": "al"}),
    ]
    counts = messages_ingest(messages=messages, received_at=NOW, chunk_size=1)
    assert counts == IngestCounts(profiles_created=1, duplicates_skipped=1)
    assert AnonymousId.objects.get().profile.external_id == "u1"


def test_messages_without_message_id_are_all_stored(ingest):
    counts = ingest(track(user="u1"), track(user="u1"))
    assert counts.events_stored == 2
    assert Event.objects.count() == 2

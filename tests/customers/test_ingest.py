"""Bulk ingestion: chunked writes equal one-at-a-time processing, and ``manage.py ingest`` end to end."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from audience_ops.customers import ingestion
from audience_ops.customers.identity import IngestCounts
from audience_ops.customers.ingestion import messages_ingest
from audience_ops.customers.messages import TrackingMessage, message_parse
from audience_ops.customers.models import AnonymousId, Event, IdentifyCall, Profile

pytestmark = pytest.mark.django_db

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


class ReferenceModel:
    """The identity rules written out plainly, one message at a time, with no database: the test oracle."""

    def __init__(self) -> None:
        self.profiles: dict[int, dict[str, Any]] = {}
        self.by_external_id: dict[str, int] = {}
        self.by_anonymous_id: dict[str, int] = {}
        self.seen: set[str] = set()
        self.counts = IngestCounts()

    def ingest(self, message: TrackingMessage) -> None:
        if message.message_id in self.seen:
            self.counts.duplicates_skipped += 1
            return
        self.seen.add(message.message_id)
        if message.type == "group":
            return
        if message.user_id is None:
            key = self.by_anonymous_id.get(message.anonymous_id)
            if key is None:
                key = self._create(None)
                self.by_anonymous_id[message.anonymous_id] = key
        else:
            key = self.by_external_id.get(message.user_id)
            if key is None:
                key = self._create(message.user_id)
            for anonymous_id in (message.anonymous_id, message.previous_id):
                if anonymous_id is None:
                    continue
                owner = self.by_anonymous_id.get(anonymous_id)
                if owner is None or self.profiles[owner]["external_id"] is not None:
                    self.by_anonymous_id[anonymous_id] = key
                elif owner != key:
                    self._merge(owner, key)
        target = self.profiles[key]
        if message.type == "identify":
            for name, value in message.traits.items():
                if name in ("email", "phone"):
                    target[name] = value
                else:
                    target["traits"][name] = value
            target["identifies"].append(message.message_id)
            self.counts.identifies_stored += 1
        elif message.type in ("track", "page", "screen"):
            target["events"].append(message.message_id)
            self.counts.events_stored += 1

    def _create(self, external_id: str | None) -> int:
        key = len(self.profiles) + self.counts.profiles_merged + 1
        self.profiles[key] = {
            "external_id": external_id,
            "email": None,
            "phone": None,
            "traits": {},
            "events": [],
            "identifies": [],
        }
        if external_id is not None:
            self.by_external_id[external_id] = key
        self.counts.profiles_created += 1
        return key

    def _merge(self, source: int, target: int) -> None:
        absorbed, kept = self.profiles.pop(source), self.profiles[target]
        kept["traits"] = {**absorbed["traits"], **kept["traits"]}
        for name in ("email", "phone"):
            if kept[name] is None:
                kept[name] = absorbed[name]
        kept["events"] += absorbed["events"]
        kept["identifies"] += absorbed["identifies"]
        for anonymous_id, owner in self.by_anonymous_id.items():
            if owner == source:
                self.by_anonymous_id[anonymous_id] = target
        self.counts.profiles_merged += 1

    def snapshot(self) -> list[tuple]:
        owned: dict[int, list[str]] = {}
        for anonymous_id, key in self.by_anonymous_id.items():
            owned.setdefault(key, []).append(anonymous_id)
        rows = [
            (
                p["external_id"] or "",
                p["email"],
                p["phone"],
                json.dumps(p["traits"], sort_keys=True),
                tuple(sorted(owned.get(key, []))),
                tuple(sorted(p["events"])),
                tuple(sorted(p["identifies"])),
            )
            for key, p in self.profiles.items()
        ]
        return sorted(rows, key=repr)


def database_snapshot() -> list[tuple]:
    rows = [
        (
            p.external_id or "",
            p.email,
            p.phone,
            json.dumps(p.traits, sort_keys=True),
            tuple(sorted(p.anonymous_ids.values_list("anonymous_id", flat=True))),
            tuple(sorted(p.events.values_list("message_id", flat=True))),
            tuple(sorted(p.identify_calls.values_list("message_id", flat=True))),
        )
        for p in Profile.objects.all()
    ]
    return sorted(rows, key=repr)


def ingest_and_snapshot(messages: list[TrackingMessage], chunk_size: int) -> tuple[IngestCounts, list[tuple]]:
    """Ingest into a rolled-back savepoint, so several chunk sizes can run on the same empty database."""
    with transaction.atomic():
        counts = messages_ingest(messages=messages, chunk_size=chunk_size, received_at=NOW)
        snapshot = database_snapshot()
        transaction.set_rollback(True)
    return counts, snapshot


MIXED_SEQUENCE = [
    {"type": "page", "anonymousId": "a1", "name": "Home", "messageId": "m01"},
    {"type": "track", "anonymousId": "a1", "event": "Product Added", "messageId": "m02"},
    {"type": "identify", "anonymousId": "a1", "traits": {"email": "anon@x.com", "ref": "ad"}, "messageId": "m03"},
    {"type": "identify", "userId": "u1", "traits": {"plan": "gold", "phone": "555"}, "messageId": "m04"},
    {"type": "track", "userId": "u1", "anonymousId": "a1", "event": "Signed In", "messageId": "m05"},
    {"type": "track", "anonymousId": "a1", "event": "Order Completed", "messageId": "m06"},
    {"type": "track", "userId": "u2", "anonymousId": "a1", "event": "Signed In", "messageId": "m07"},
    {"type": "track", "anonymousId": "a1", "event": "Product Viewed", "messageId": "m08"},
    {"type": "track", "userId": "u1", "anonymousId": "a1", "event": "Signed In", "messageId": "m07"},
    {"type": "screen", "anonymousId": "a2", "name": "Cart", "messageId": "m09"},
    {"type": "alias", "userId": "u3", "previousId": "a2", "messageId": "m10"},
    {"type": "group", "userId": "u3", "groupId": "g", "messageId": "m11"},
    {"type": "identify", "userId": "u3", "anonymousId": None, "traits": {"email": None}, "messageId": "m12"},
    {"type": "track", "anonymousId": "a3", "event": "Product Viewed", "messageId": "m13"},
    {"type": "identify", "userId": "u2", "anonymousId": "a3", "traits": {"vip": True}, "messageId": "m14"},
    {"type": "track", "userId": "u2", "event": "Order Completed"},
    {"type": "track", "anonymousId": "a4", "event": "Product Viewed", "messageId": "m15"},
]


def test_mixed_sequence_gives_the_same_result_in_any_chunking_and_matches_the_reference():
    # given a sequence with merges, re-pointing, aliases, groups, duplicates and a missing messageId
    messages = [message_parse(raw) for raw in MIXED_SEQUENCE]
    reference = ReferenceModel()
    for message in messages:
        reference.ingest(message)
    # when it is ingested one message per chunk, in small chunks and in one chunk
    results = [ingest_and_snapshot(messages, chunk_size) for chunk_size in (1, 2, 5, 5000)]
    # then every run stored exactly what the plain one-at-a-time model says
    for counts, snapshot in results:
        assert counts == reference.counts
        assert snapshot == reference.snapshot()
    assert reference.counts == IngestCounts(
        profiles_created=7, profiles_merged=3, events_stored=10, identifies_stored=4, duplicates_skipped=1
    )


USER_IDS = st.sampled_from(["u1", "u2", "u3"])
ANONYMOUS_IDS = st.sampled_from(["a1", "a2", "a3", "a4"])
MESSAGE_IDS = st.one_of(st.none(), st.sampled_from([f"m{n}" for n in range(12)]))
TRAITS = st.dictionaries(
    st.sampled_from(["email", "phone", "plan", "vip"]), st.sampled_from([None, "x", "y", "z"]), max_size=3
)


@st.composite
def raw_messages(draw) -> dict[str, Any]:
    message_type = draw(st.sampled_from(["identify", "track", "track", "page", "alias", "group"]))
    user_id = draw(st.one_of(st.none(), USER_IDS))
    anonymous_id = draw(st.one_of(st.none(), ANONYMOUS_IDS))
    if message_type == "alias":
        user_id = user_id or "u1"
    elif user_id is None and anonymous_id is None:
        anonymous_id = "a1"
    raw: dict[str, Any] = {"type": message_type, "userId": user_id, "anonymousId": anonymous_id}
    message_id = draw(MESSAGE_IDS)
    if message_id is not None:
        raw["messageId"] = message_id
    if message_type == "identify":
        raw["traits"] = draw(TRAITS)
    elif message_type == "track":
        raw["event"] = "E"
    elif message_type == "alias":
        raw["previousId"] = draw(ANONYMOUS_IDS)
    return raw


@given(sequence=st.lists(raw_messages(), min_size=1, max_size=25))
@hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_sequence_matches_the_reference_model_whatever_the_chunk_size(sequence):
    messages = [message_parse(raw) for raw in sequence]
    reference = ReferenceModel()
    for message in messages:
        reference.ingest(message)
    for chunk_size in (1, 4, 1000):
        counts, snapshot = ingest_and_snapshot(messages, chunk_size)
        assert snapshot == reference.snapshot()
        assert counts == reference.counts


def test_a_failed_write_rolls_back_the_whole_ingestion(monkeypatch):
    # given the identify calls of the second chunk fail to insert
    messages = [message_parse({"type": "identify", "userId": f"u{n}", "messageId": f"m{n}"}) for n in range(4)]
    original = ingestion.rows_insert
    calls = []

    def failing_rows_insert(model, objects):
        if model is IdentifyCall:
            calls.append(len(objects))
            if len(calls) == 2:
                raise IntegrityError("simulated")
        return original(model, objects)

    monkeypatch.setattr(ingestion, "rows_insert", failing_rows_insert)
    # when
    with pytest.raises(IntegrityError):
        messages_ingest(messages=messages, chunk_size=2)
    # then not even the first chunk is kept
    assert calls == [2, 2]
    assert (Profile.objects.count(), IdentifyCall.objects.count()) == (0, 0)


def test_a_conflicting_concurrent_write_is_retried(monkeypatch):
    # given the first attempt collides with a concurrent writer
    original = ingestion._chunk_ingest
    attempts = []

    def colliding_once(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            Profile.objects.create(external_id="u1")  # what the other writer committed meanwhile
            raise IntegrityError("duplicate key value violates unique constraint")
        return original(*args, **kwargs)

    monkeypatch.setattr(ingestion, "_chunk_ingest", colliding_once)
    message = message_parse({"type": "track", "userId": "u1", "event": "E", "messageId": "m1"})
    # when
    counts = messages_ingest(messages=[message], attempts=3)
    # then the retry stored the message once, and the half-done attempt left nothing behind
    assert len(attempts) == 2
    assert counts == IngestCounts(profiles_created=1, events_stored=1)
    assert list(Event.objects.values_list("profile__external_id", "message_id")) == [("u1", "m1")]
    assert Profile.objects.count() == 1


def test_a_long_ingestion_refreshes_postgresql_statistics_as_its_tables_double(monkeypatch):
    # given a threshold of 2 rows, and chunks that each write 2 profiles and 2 events
    monkeypatch.setattr(ingestion, "ANALYZE_AFTER_ROWS", 2)
    messages = [message_parse({"type": "track", "userId": f"u{n}", "event": "E"}) for n in range(6)]
    # when
    with CaptureQueriesContext(connection) as queries:
        messages_ingest(messages=messages, chunk_size=2)
    # then statistics were refreshed after 4 and 8 rows, not after 12 (the next step is 16); SQLite needs none
    analyzes = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("ANALYZE")]
    assert len(analyzes) == (2 if connection.vendor == "postgresql" else 0)
    assert Event.objects.count() == 6


def test_new_profiles_never_reuse_the_id_of_a_deleted_one():
    # given the newest profile was deleted (as a merged anonymous profile is)
    kept = Profile.objects.create(external_id="kept")
    deleted = Profile.objects.create(external_id="deleted")
    deleted_pk = deleted.pk
    deleted.delete()
    # when
    messages_ingest(messages=[message_parse({"type": "track", "userId": "new", "event": "E"})])
    # then
    new = Profile.objects.get(external_id="new")
    assert new.pk > deleted_pk > kept.pk
    assert Event.objects.get().profile == new


def test_retrying_needs_a_sequence():
    with pytest.raises(TypeError):
        messages_ingest(messages=iter([]), attempts=2)
    assert Profile.objects.count() == 0


# manage.py ingest ------------------------------------------------------------------------------------------


GOOD_LINES = [
    {"type": "track", "anonymousId": "a1", "event": "Product Viewed", "messageId": "m1", "timestamp": "2025-05-01"},
    {"type": "identify", "userId": "u1", "anonymousId": "a1", "traits": {"email": "ann@example.com"}},
    {"type": "page", "userId": "u1", "name": "Home", "messageId": "m2"},
    {"type": "track", "userId": "u2", "event": "Order Completed", "messageId": "m3"},
]


def write_jsonl(path, rows: list[Any], *, blank_after: int | None = None) -> None:
    lines = [row if isinstance(row, str) else json.dumps(row) for row in rows]
    if blank_after is not None:
        lines.insert(blank_after, "   ")
    path.write_text("\n".join(lines) + "\n")


def run_ingest(*args: str, stdin: io.BytesIO | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("ingest", *args, stdout=out, stderr=err, stdin=stdin)
    return out.getvalue(), err.getvalue()


def test_ingest_loads_a_good_file_and_prints_counts(tmp_path):
    path = tmp_path / "messages.jsonl"
    write_jsonl(path, GOOD_LINES, blank_after=2)
    out, _ = run_ingest(str(path))
    # then three profiles were created (the anonymous one was merged into u1 by the identify)
    assert out.splitlines() == [
        "profiles created: 3",
        "profiles merged: 1",
        "events stored: 3",
        "identify calls stored: 1",
        "duplicates skipped: 0",
    ]
    known = Profile.objects.get(external_id="u1")
    assert known.email == "ann@example.com"
    assert sorted(known.events.values_list("message_id", flat=True)) == ["m1", "m2"]
    assert Profile.objects.count() == 2


def test_ingest_rerun_skips_every_duplicate(tmp_path):
    path = tmp_path / "messages.jsonl"
    write_jsonl(path, [line for line in GOOD_LINES if "messageId" in line])
    run_ingest(str(path))
    out, _ = run_ingest(str(path))
    assert out.splitlines()[:3] == ["profiles created: 0", "profiles merged: 0", "events stored: 0"]
    assert out.splitlines()[4] == "duplicates skipped: 3"
    assert Event.objects.count() == 3


def test_ingest_reports_every_bad_line_and_writes_nothing(tmp_path):
    # given a file whose lines 3, 5 and 6 are bad (line 4 is blank)
    path = tmp_path / "messages.jsonl"
    rows = [
        GOOD_LINES[0],
        GOOD_LINES[1],
        {"type": "track", "userId": "u1"},
        "",
        "{oops",
        {"type": "track", "anonymousId": "a", "event": "E", "timestamp": "tomorrow"},
        GOOD_LINES[3],
    ]
    write_jsonl(path, rows)
    # when
    with pytest.raises(CommandError) as excinfo:
        run_ingest(str(path))
    # then
    assert str(excinfo.value) == "3 invalid lines; nothing was written"
    assert (Profile.objects.count(), Event.objects.count(), AnonymousId.objects.count()) == (0, 0, 0)


def test_ingest_prints_the_line_number_and_reason_on_stderr(tmp_path):
    path = tmp_path / "messages.jsonl"
    write_jsonl(path, [GOOD_LINES[0], "", {"type": "track", "userId": "u1"}, {"type": "page"}])
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("ingest", str(path), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == [
        "line 3: event: required for track messages",
        "line 4: userId: userId or anonymousId is required",
    ]
    assert Event.objects.count() == 0


def test_ingest_reads_stdin():
    data = "\n".join(json.dumps(row) for row in GOOD_LINES).encode()
    out, _ = run_ingest("-", stdin=io.BytesIO(data))
    assert out.splitlines()[2] == "events stored: 3"
    assert Profile.objects.get(external_id="u1").email == "ann@example.com"


def test_ingest_from_stdin_with_a_bad_line_writes_nothing():
    data = (json.dumps(GOOD_LINES[0]) + "\n" + json.dumps({"type": "track", "userId": "u"}) + "\n").encode()
    err = io.StringIO()
    with pytest.raises(CommandError):
        call_command("ingest", "-", stdin=io.BytesIO(data), stdout=io.StringIO(), stderr=err)
    assert err.getvalue().splitlines() == ["line 2: event: required for track messages"]
    assert Profile.objects.count() == 0


def test_ingest_in_small_chunks_gives_the_same_result(tmp_path):
    # (without the message whose id is generated, which differs from run to run)
    sequence = [raw for raw in MIXED_SEQUENCE if "messageId" in raw]
    path = tmp_path / "messages.jsonl"
    write_jsonl(path, sequence)
    reference = ReferenceModel()
    for raw in sequence:
        reference.ingest(message_parse(raw))
    run_ingest(str(path), "--chunk-size", "3")
    assert database_snapshot() == reference.snapshot()


def test_ingest_missing_file_is_an_error(tmp_path):
    with pytest.raises(CommandError) as excinfo:
        run_ingest(str(tmp_path / "nope.jsonl"))
    assert str(excinfo.value) == f"cannot read {tmp_path / 'nope.jsonl'}: No such file or directory"

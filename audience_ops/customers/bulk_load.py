"""Loading customer data in bulk: the ``seed_demo`` service and the writers behind it.

PostgreSQL gets ``COPY ... FROM STDIN`` through psycopg 3 (``cursor.copy``), the only way to put ten million
events in within minutes; SQLite (the embedded demo) and any other database get chunked ``executemany``
inserts. Either way profile ids are reserved up front and written explicitly, so events can point at their
profile without a round trip and rows stream from the generator to the database: nothing holds more than
one chunk of profiles in memory. The whole load is one transaction, so a failure (or Ctrl-C) leaves the
tables as they were. ``docs/demo-data.md`` has the measurements behind the choices below.
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from .demo_data import QA_EXTERNAL_IDS, DemoProfile, demo_profiles, first_message_id
from .models import AnonymousId, Event, IdentifyCall, Profile

CUSTOMER_MODELS: tuple[type[Model], ...] = (Event, IdentifyCall, AnonymousId, Profile)

PROFILE_COLUMNS = ("id", "external_id", "email", "phone", "traits", "created_at", "updated_at")
ANONYMOUS_ID_COLUMNS = ("anonymous_id", "profile_id", "linked_at")
EVENT_COLUMNS = ("profile_id", "name", "type", "occurred_at", "received_at", "properties", "message_id")

# Profiles per write: about 10 events each, so a chunk is ~20,000 events (a few MB of Python objects).
CHUNK_PROFILES = 2_000
SPOOL_BLOCK = 1 << 20
# Below this many expected events, keeping the indexes is cheaper than rebuilding them afterwards.
REBUILD_INDEXES_FROM_EVENTS = 2_000_000
EVENTS_PER_PROFILE = 10


class DemoDataExists(Exception):
    """Demo data is already loaded; loading it again would collide on external ids and message ids."""


@dataclass(frozen=True)
class DemoSeedSummary:
    """What a load wrote, for the command's summary line and the benchmark."""

    seed: int
    now: datetime
    profiles: int
    known: int
    anonymous: int
    anonymous_ids: int
    events: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        rows = self.profiles + self.anonymous_ids + self.events
        return rows / self.seconds if self.seconds > 0 else float(rows)


def demo_data_existing(*, seed: int, using: str = DEFAULT_DB_ALIAS) -> str | None:
    """Why a demo load would collide with what is stored (None when it would not).

    Every load starts with the QA profiles and with message ``demo-<seed>-0000000001``, so two cheap indexed
    lookups tell whether this seed, or any other, is loaded.
    """
    message_id = first_message_id(seed=seed)
    if Event.objects.using(using).filter(message_id=message_id).exists():
        return f"demo data for seed {seed} is already loaded (event {message_id} exists)"
    existing = (
        Profile.objects.using(using).filter(external_id__in=QA_EXTERNAL_IDS).values_list("external_id", flat=True)
    )
    found = sorted(existing)
    if found:
        return f"demo profiles from an earlier load exist ({', '.join(found)})"
    return None


def customer_data_reset(*, using: str = DEFAULT_DB_ALIAS) -> None:
    """Delete every profile, anonymous id, identify call and event (and, on PostgreSQL, whatever references them).

    PostgreSQL truncates (instant at any size, cascading to rows of other apps that point at profiles);
    elsewhere the ORM deletes, so the ``on_delete`` rules of other apps' foreign keys still apply.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in CUSTOMER_MODELS)
            # TRUNCATE refuses while deferred foreign-key checks of this transaction are pending; run them now.
            connection.check_constraints()
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {tables} CASCADE")
            return
        for model in CUSTOMER_MODELS:
            model._default_manager.using(using).all().delete()


def demo_data_seed(
    *,
    profiles: int,
    seed: int,
    now: datetime,
    reset: bool = False,
    rebuild_indexes: bool | None = None,
    progress: Callable[[str], None] | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> DemoSeedSummary:
    """Load the Glow & Grind demo: the QA profiles plus ``profiles`` generated shoppers, as of ``now``.

    Refuses (``DemoDataExists``) when demo data is already there unless ``reset``, rather than silently adding
    a second copy. ``rebuild_indexes`` (default: only for loads of millions of events) drops the secondary
    indexes, unique constraints and foreign keys of events, anonymous ids and profiles for the load and
    rebuilds them at the end, inside the same transaction, so they are back even when the load fails.
    ``progress`` receives a line after each chunk of profiles and each finishing step (copies, index builds,
    ANALYZE), for an operator watching a long load.
    """
    if profiles < 0:
        raise ValueError(f"profiles: must be 0 or more, got {profiles}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now: must be timezone-aware")
    started = time.perf_counter()
    connection = connections[using]
    with transaction.atomic(using=using):
        if reset:
            customer_data_reset(using=using)
        else:
            reason = demo_data_existing(seed=seed, using=using)
            if reason:
                raise DemoDataExists(f"{reason}; run with --reset to replace it")
        if rebuild_indexes is None:
            rebuild_indexes = (
                connection.vendor == "postgresql" and profiles * EVENTS_PER_PROFILE >= REBUILD_INDEXES_FROM_EVENTS
            )
        report = progress or _ignore
        writer: _Writer = (
            _PostgresWriter(connection, report)
            if connection.vendor == "postgresql"
            else _InsertWriter(connection, report)
        )
        generated = demo_profiles(count=profiles, seed=seed, now=now)
        counts = _Counts(report)
        with writer.prepared(rebuild_indexes=rebuild_indexes), _fewer_gc_passes():
            first_id = writer.reserve_profile_ids(profiles + len(QA_EXTERNAL_IDS))
            writer.load(generated, first_id=first_id, counts=counts)
        writer.analyze()
    writer.vacuum()
    return DemoSeedSummary(
        seed=seed,
        now=now,
        profiles=counts.profiles,
        known=counts.known,
        anonymous=counts.profiles - counts.known,
        anonymous_ids=counts.anonymous_ids,
        events=counts.events,
        seconds=time.perf_counter() - started,
    )


@contextmanager
def _fewer_gc_passes() -> Iterator[None]:
    """Run the cyclic garbage collector less often while rows stream through.

    The load allocates tens of millions of short-lived tuples and dicts and no reference cycles, so the
    default threshold (a young collection every 700 allocations) costs a quarter of the client's time.
    """
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


class _Counts:
    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.profiles = 0
        self.known = 0
        self.anonymous_ids = 0
        self.events = 0

    def add(self, chunk: list[DemoProfile]) -> None:
        self.profiles += len(chunk)
        for item in chunk:
            self.known += item.profile.external_id is not None
            self.anonymous_ids += len(item.anonymous_ids)
            self.events += len(item.events)
        self.report(f"{self.profiles:,} profiles written")


def _chunks(items: Iterable[DemoProfile], size: int) -> Iterator[list[DemoProfile]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _copy_text(value: str | None) -> str:
    """A value in COPY's text format: backslash, tab, newline and carriage return escaped; None as ``\\N``."""
    if value is None:
        return "\\N"
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


class _JsonText:
    """``json.dumps`` (optionally COPY-escaped) with a cache for the dicts the generator shares between events.

    Views, adds and page views reuse one properties dict per product or page, so most events need no encoding
    at all. The cache holds the dict itself, so its ``id`` cannot be reused by another object while cached.
    """

    LIMIT = 10_000

    def __init__(self, *, for_copy: bool) -> None:
        self.for_copy = for_copy
        self.cache: dict[int, tuple[Any, str]] = {}

    def __call__(self, value: Any) -> str:
        hit = self.cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        text = json.dumps(value, separators=(",", ":"))
        if self.for_copy:
            text = _copy_text(text)
        if len(self.cache) >= self.LIMIT:
            self.cache.clear()
        self.cache[id(value)] = (value, text)
        return text


class _TimestampText:
    """Timestamps as COPY text, about four times faster than ``isoformat()`` on an aware datetime.

    Demo times are whole UTC seconds, so the text is a cached date plus one of 86,400 precomputed clock times;
    anything else (microseconds, another time zone) falls back to ``isoformat()``.
    """

    def __init__(self) -> None:
        self.days: dict[int, str] = {}
        self.clock = [f" {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(86_400)]

    def __call__(self, value: datetime) -> str:
        if value.microsecond or value.tzinfo is not UTC:
            return value.isoformat()
        day = value.toordinal()
        date = self.days.get(day)
        if date is None:
            date = self.days[day] = value.date().isoformat()
        return date + self.clock[value.hour * 3600 + value.minute * 60 + value.second]


def _ignore(message: str) -> None:
    return None


@contextmanager
def _timed(report: Callable[[str], None], what: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    report(f"{what} ({time.perf_counter() - started:.1f} s)")


class _Writer:
    """How one database vendor takes the rows: reserve profile ids, stream the rows in, refresh statistics."""

    def __init__(self, connection: BaseDatabaseWrapper, report: Callable[[str], None]) -> None:
        self.connection = connection
        self.report = report

    def table(self, model: type[Model]) -> str:
        return self.connection.ops.quote_name(model._meta.db_table)

    def columns(self, names: tuple[str, ...]) -> str:
        return ", ".join(self.connection.ops.quote_name(name) for name in names)

    def prepared(self, *, rebuild_indexes: bool) -> AbstractContextManager[None]:
        return nullcontext()

    def reserve_profile_ids(self, count: int) -> int:
        raise NotImplementedError

    def load(self, items: Iterator[DemoProfile], *, first_id: int, counts: _Counts) -> None:
        raise NotImplementedError

    def analyze(self) -> None:
        """Fresh planner statistics, so the engine's first queries over the new rows get good plans."""

    def vacuum(self) -> None:
        """After the commit: whatever the database needs so the loaded rows read fast (nothing by default)."""


class _PostgresWriter(_Writer):
    """COPY in text format; the caller's transaction makes the load all-or-nothing.

    Events stream through one long ``COPY`` while the generator runs, so PostgreSQL ingests on one core while
    Python generates on the other. Profiles and anonymous ids go to temporary files meanwhile and are copied
    right after: the events' foreign key is ``DEFERRABLE INITIALLY DEFERRED`` (or dropped for the load), so it
    is checked once every row is in. The rows are formatted here rather than by ``write_row``: the values are
    few and simple, and that halves the client's time per event.
    """

    def prepared(self, *, rebuild_indexes: bool) -> AbstractContextManager[None]:
        with self.connection.cursor() as cursor:
            # Index builds at the end sort millions of rows; give them memory (this transaction only).
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        if not rebuild_indexes:
            return nullcontext()
        tables = [self.table(Event), self.table(AnonymousId), self.table(Profile)]
        return _IndexesDropped(self.connection, tables, self.report)

    def reserve_profile_ids(self, count: int) -> int:
        """Take ``count`` consecutive ids from the profile sequence; the lock keeps other writers out meanwhile."""
        with self.connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {self.table(Profile)} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [Profile._meta.db_table])
            (sequence,) = cursor.fetchone()
            cursor.execute("SELECT nextval(%s)", [sequence])
            (first_id,) = cursor.fetchone()
            if count > 1:
                cursor.execute("SELECT setval(%s, %s)", [sequence, first_id + count - 1])
        return first_id

    def load(self, items: Iterator[DemoProfile], *, first_id: int, counts: _Counts) -> None:
        properties = _JsonText(for_copy=True)
        cached = properties.cache.get
        timestamp = _TimestampText()
        text = _copy_text
        profile_id = first_id
        with (
            tempfile.TemporaryFile(mode="w+", encoding="utf-8") as profile_file,
            tempfile.TemporaryFile(mode="w+", encoding="utf-8") as anonymous_file,
            self.connection.cursor() as cursor,
        ):
            with cursor.copy(f"COPY {self.table(Event)} ({self.columns(EVENT_COLUMNS)}) FROM STDIN") as copy:
                for chunk in _chunks(items, CHUNK_PROFILES):
                    lines = []
                    for item in chunk:
                        row = item.profile
                        profile_file.write(
                            f"{profile_id}\t{text(row.external_id)}\t{text(row.email)}\t{text(row.phone)}\t"
                            f"{text(json.dumps(row.traits))}\t{timestamp(row.created_at)}\t{timestamp(row.updated_at)}\n"
                        )
                        for anonymous in item.anonymous_ids:
                            anonymous_file.write(
                                f"{text(anonymous.anonymous_id)}\t{profile_id}\t{timestamp(anonymous.linked_at)}\n"
                            )
                        # Event names come from a fixed set and message ids are demo-<seed>-<digits>: nothing in them
                        # needs escaping. Properties are escaped once per distinct dict, by the cache.
                        for name, kind, occurred_at, props, message_id in item.events:
                            hit = cached(id(props))
                            encoded = hit[1] if hit is not None and hit[0] is props else properties(props)
                            at = timestamp(occurred_at)
                            lines.append(f"{profile_id}\t{name}\t{kind}\t{at}\t{at}\t{encoded}\t{message_id}\n")
                        profile_id += 1
                    copy.write("".join(lines))
                    counts.add(chunk)
            for model, columns, spool in (
                (Profile, PROFILE_COLUMNS, profile_file),
                (AnonymousId, ANONYMOUS_ID_COLUMNS, anonymous_file),
            ):
                spool.seek(0)
                with (
                    _timed(self.report, f"copied {model._meta.db_table}"),
                    cursor.copy(f"COPY {self.table(model)} ({self.columns(columns)}) FROM STDIN") as copy,
                ):
                    while block := spool.read(SPOOL_BLOCK):
                        copy.write(block)

    def analyze(self) -> None:
        with self.connection.cursor() as cursor, _timed(self.report, "analyzed"):
            for model in (Profile, AnonymousId, Event):
                cursor.execute(f"ANALYZE {self.table(model)}")

    def vacuum(self) -> None:
        """Mark the COPY-loaded pages all-visible, so index-only scans stop reading the table for every row.

        A freshly loaded table has an empty visibility map, and autovacuum may be off or far behind: until a
        VACUUM runs, the planner prices every index-only scan as a heap read per row and falls back to reading
        the events table (the engine's event conditions are index-only scans on the covering index). VACUUM
        cannot run inside a transaction, so it is skipped when the caller holds one (tests, an outer atomic).
        """
        if self.connection.in_atomic_block:
            return
        tables = ", ".join(self.table(model) for model in (Profile, AnonymousId, Event))
        with self.connection.cursor() as cursor, _timed(self.report, "vacuumed"):
            cursor.execute(f"VACUUM (ANALYZE) {tables}")


class _IndexesDropped:
    """Drop the secondary indexes, unique and foreign-key constraints of ``tables``; put them back on exit.

    Building an index once over all rows is far cheaper than maintaining it row by row, and a foreign key
    added back is checked with one join instead of one lookup per event. The definitions are read back from
    the catalog (``pg_get_indexdef`` / ``pg_get_constraintdef``), so they return exactly as the migrations
    made them. PostgreSQL DDL is transactional: if the load fails, the rollback restores them as well.
    """

    def __init__(self, connection: BaseDatabaseWrapper, tables: list[str], report: Callable[[str], None]) -> None:
        self.connection = connection
        self.report = report
        self.tables = tables
        self.constraints: list[tuple[str, str, str]] = []
        self.indexes: list[tuple[str, str]] = []

    def __enter__(self) -> None:
        quote = self.connection.ops.quote_name
        # ALTER TABLE refuses while deferred foreign-key checks of this transaction are pending; run them now.
        self.connection.check_constraints()
        with self.connection.cursor() as cursor:
            for table in self.tables:
                cursor.execute(
                    """
                    SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname
                    """,
                    [table],
                )
                self.constraints += [(table, name, definition) for name, definition in cursor.fetchall()]
                cursor.execute(
                    """
                    SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
                    WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
                      AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                    ORDER BY 1
                    """,
                    [table],
                )
                rows = cursor.fetchall()
                self.indexes += rows
                for name, _definition in rows:
                    cursor.execute(f"DROP INDEX {name}")
            for table, name, _definition in self.constraints:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")

    def __exit__(self, exc_type: object, *exc_info: object) -> None:
        if exc_type is not None:
            return  # the transaction rolls back, and the dropped indexes and constraints come back with it
        quote = self.connection.ops.quote_name
        with self.connection.cursor() as cursor:
            for name, definition in self.indexes:
                with _timed(self.report, f"rebuilt index {name}"):
                    cursor.execute(definition)
            for table, name, definition in reversed(self.constraints):
                with _timed(self.report, f"restored constraint {name}"):
                    cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}")


class _InsertWriter(_Writer):
    """Chunked ``executemany`` for SQLite and anything else, values adapted as the ORM would adapt them."""

    def reserve_profile_ids(self, count: int) -> int:
        with self.connection.cursor() as cursor:
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {self.table(Profile)}")
            (highest,) = cursor.fetchone()
            if self.connection.vendor == "sqlite":
                # AUTOINCREMENT never hands out an id again, even a deleted one; stay above its high-water mark.
                cursor.execute(
                    "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = %s", [Profile._meta.db_table]
                )
                (sequence,) = cursor.fetchone()
                highest = max(highest, sequence)
        return highest + 1

    def insert_sql(self, model: type[Model], columns: tuple[str, ...]) -> str:
        placeholders = ", ".join(["%s"] * len(columns))
        return f"INSERT INTO {self.table(model)} ({self.columns(columns)}) VALUES ({placeholders})"

    def load(self, items: Iterator[DemoProfile], *, first_id: int, counts: _Counts) -> None:
        adapt = self.connection.ops.adapt_datetimefield_value
        properties = _JsonText(for_copy=False)
        statements = {
            model: self.insert_sql(model, columns)
            for model, columns in (
                (Profile, PROFILE_COLUMNS),
                (AnonymousId, ANONYMOUS_ID_COLUMNS),
                (Event, EVENT_COLUMNS),
            )
        }
        profile_id = first_id
        with self.connection.cursor() as cursor:
            for chunk in _chunks(items, CHUNK_PROFILES):
                rows: dict[type[Model], list[tuple]] = {Profile: [], AnonymousId: [], Event: []}
                for item in chunk:
                    row = item.profile
                    rows[Profile].append(
                        (profile_id, row.external_id, row.email, row.phone, json.dumps(row.traits),
                         adapt(row.created_at), adapt(row.updated_at))
                    )  # fmt: skip
                    rows[AnonymousId] += [(a.anonymous_id, profile_id, adapt(a.linked_at)) for a in item.anonymous_ids]
                    for event in item.events:
                        occurred_at = adapt(event.occurred_at)
                        rows[Event].append(
                            (profile_id, event.name, event.type, occurred_at, occurred_at,
                             properties(event.properties), event.message_id)
                        )  # fmt: skip
                    profile_id += 1
                for model, values in rows.items():
                    if values:
                        cursor.executemany(statements[model], values)
                counts.add(chunk)

    def analyze(self) -> None:
        with self.connection.cursor() as cursor:
            if self.connection.vendor == "sqlite":
                cursor.execute("ANALYZE")
                return
            # Elsewhere the sequence knows nothing of the explicit ids; move it past them.
            for sql in self.connection.ops.sequence_reset_sql(no_style(), [Profile]):
                cursor.execute(sql)

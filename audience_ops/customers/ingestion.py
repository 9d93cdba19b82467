"""``messages_ingest``: store validated messages in order, in bulk. The tracking API and ``ingest`` both use it.

Messages are processed in chunks. For each chunk a few queries preload what it refers to (stored message
ids, profiles by ``userId``, anonymous ids with their profiles); the identity rules then run in memory in
message order (:class:`~audience_ops.customers.identity.IdentityGraph`), and the results are written with
bulk inserts and updates. Merges of stored profiles are rare and cost a few UPDATE statements. The result
is the same as storing the messages one at a time (the tests hold it to that).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, reset_queries, transaction
from django.db.models import Lookup, QuerySet
from django.utils import timezone

from .bulk_rows import rows_insert, rows_update
from .identity import IdentityGraph, IngestCounts, ProfileNode, profiles_merge_stored
from .messages import TrackingMessage
from .models import AnonymousId, Event, IdentifyCall, Profile

DEFAULT_CHUNK_SIZE = 5000
EVENT_TYPES = frozenset({"track", "page", "screen"})
# Messages that leave no row carrying their messageId: they are deduplicated within one ingestion only.
UNSTORED_TYPES = frozenset({"alias", "group"})
# PostgreSQL plans with the statistics of the last ANALYZE, and autovacuum cannot see the rows of a transaction
# that has not committed. Without fresh statistics a long ingestion's merges scan whole tables for a few
# profile ids, so it refreshes them itself, each time the rows it wrote have doubled.
ANALYZE_AFTER_ROWS = 50_000
# PostgreSQL's deadlock_detected and serialization_failure: another transaction won, trying again succeeds.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})

__all__ = ["DEFAULT_CHUNK_SIZE", "IngestCounts", "messages_ingest"]


def messages_ingest(
    *,
    messages: Iterable[TrackingMessage],
    received_at: datetime | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    attempts: int = 1,
) -> IngestCounts:
    """Store ``messages`` in order, all or nothing, in one transaction.

    Messages whose ``messageId`` is already stored, or repeated earlier in ``messages``, are skipped
    entirely. ``received_at`` (default: now) is the receive time of every message and the event time of
    those without a timestamp.

    ``attempts > 1`` retries the whole transaction when a concurrent writer got there first (a unique
    ``userId``, ``anonymousId`` or ``messageId`` inserted meanwhile, a deadlock): the retry sees the other
    writer's rows and resolves against them. Only a sequence can be replayed, so a stream gets one attempt.
    """
    if attempts > 1 and not isinstance(messages, Sequence):
        raise TypeError("retrying needs a sequence of messages, not a one-shot iterable")
    now = received_at or timezone.now()
    for attempt in range(1, attempts + 1):
        try:
            with transaction.atomic():
                counts = IngestCounts()
                unstored_ids: set[str] = set()
                analyze_at = ANALYZE_AFTER_ROWS
                for chunk in _chunks(messages, chunk_size):
                    counts += _chunk_ingest(chunk, now=now, unstored_ids=unstored_ids)
                    if settings.DEBUG:
                        reset_queries()  # DEBUG logs every statement; a long ingestion must not grow with it
                    written = counts.profiles_created + counts.events_stored + counts.identifies_stored
                    if written >= analyze_at:
                        _statistics_refresh()
                        analyze_at = 2 * written
                return counts
        except (IntegrityError, OperationalError) as exc:
            if attempt == attempts or not _is_retryable(exc):
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _statistics_refresh() -> None:
    """ANALYZE the customer tables (PostgreSQL samples this transaction's own new rows too)."""
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(
        connection.ops.quote_name(model._meta.db_table) for model in (Profile, AnonymousId, Event, IdentifyCall)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


def _is_retryable(exc: Exception) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.__cause__, "sqlstate", None) in RETRYABLE_SQLSTATES


def _chunks(messages: Iterable[TrackingMessage], size: int) -> Iterator[list[TrackingMessage]]:
    iterator = iter(messages)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _chunk_ingest(chunk: list[TrackingMessage], *, now: datetime, unstored_ids: set[str]) -> IngestCounts:
    """Ingest one chunk. ``unstored_ids`` carries the ids of alias and group messages (which leave no row to
    find them by) from chunk to chunk, so duplicates are found the same way whatever the chunk size."""
    stored_ids = _stored_message_ids({message.message_id for message in chunk})
    seen: set[str] = set()
    fresh: list[TrackingMessage] = []
    duplicates = 0
    for message in chunk:
        message_id = message.message_id
        if message_id in stored_ids or message_id in seen or message_id in unstored_ids:
            duplicates += 1
            continue
        seen.add(message_id)
        if message.type in UNSTORED_TYPES:
            unstored_ids.add(message_id)
        if message.type != "group":  # groups are accepted and not modelled
            fresh.append(message)

    graph = IdentityGraph(now=now)
    _graph_preload(graph, fresh)
    events: list[tuple[ProfileNode, TrackingMessage]] = []
    identifies: list[tuple[ProfileNode, TrackingMessage]] = []
    for message in fresh:
        node = graph.resolve(message)
        if message.type == "identify":
            graph.apply_traits(node, message.traits)
            identifies.append((node, message))
        elif message.type in EVENT_TYPES:
            events.append((node, message))

    _graph_write(graph)
    rows_insert(
        Event,
        [
            Event(
                profile_id=node.current().profile.pk,
                name=message.event,
                type=message.type,
                occurred_at=message.timestamp or now,
                received_at=now,
                properties=message.properties,
                message_id=message.message_id,
            )
            for node, message in events
        ],
    )
    rows_insert(
        IdentifyCall,
        [
            IdentifyCall(
                profile_id=node.current().profile.pk,
                message_id=message.message_id,
                traits=message.traits,
                sent_at=message.timestamp or now,
                received_at=now,
            )
            for node, message in identifies
        ],
    )
    counts = graph.counts
    counts.events_stored = len(events)
    counts.identifies_stored = len(identifies)
    counts.duplicates_skipped = duplicates
    return counts


def _stored_message_ids(message_ids: set[str]) -> set[str]:
    stored: set[str] = set()
    for model in (Event, IdentifyCall):
        for queryset in _filtered(model.objects.order_by(), "message_id", message_ids):
            stored.update(queryset.values_list("message_id", flat=True))
    return stored


def _graph_preload(graph: IdentityGraph, messages: list[TrackingMessage]) -> None:
    """Load the profiles and anonymous ids ``messages`` refer to.

    When a message may change stored profiles (traits, links, merges), the rows are locked on PostgreSQL
    so two concurrent requests cannot lose each other's updates; plain events need no lock, their inserts
    are protected by the unique constraints and foreign keys.
    """
    lock = any(message.can_change_stored_profiles for message in messages)
    user_ids = {message.user_id for message in messages if message.user_id is not None}
    anonymous_ids = {value for message in messages for value in (message.anonymous_id, message.previous_id) if value}
    for queryset in _filtered(Profile.objects.all(), "external_id", user_ids):
        for profile in _locked(queryset, lock, "pk"):
            graph.add_stored_profile(profile)
    for queryset in _filtered(AnonymousId.objects.select_related("profile"), "anonymous_id", anonymous_ids):
        for row in _locked(queryset, lock, "profile_id"):
            graph.add_stored_anonymous_id(row)


def _filtered(queryset: QuerySet[Any], field: str, values: set[str]) -> Iterator[QuerySet[Any]]:
    """``queryset`` restricted to rows whose ``field`` is one of ``values``: one query on PostgreSQL (an array
    parameter), lists of at most 999 parameters on SQLite."""
    if not values:
        return
    if connection.vendor == "postgresql":
        yield queryset.filter(**{f"{field}__{AnyOf.lookup_name}": list(values)})
        return
    size = connection.features.max_query_params - 10
    ordered = list(values)
    for start in range(0, len(ordered), size):
        yield queryset.filter(**{f"{field}__in": ordered[start : start + size]})


class AnyOf(Lookup):
    """``column = ANY(%s)`` with the values as one array parameter (PostgreSQL only).

    For thousands of values a long ``IN (%s, %s, ...)`` costs far more to build, bind and plan than the
    index lookups themselves; a single array parameter does not.
    """

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        lhs, params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s)", [*params, list(self.rhs)]


for _model, _field in ((Event, "message_id"), (IdentifyCall, "message_id"), (Profile, "external_id")):
    _model._meta.get_field(_field).register_lookup(AnyOf)
AnonymousId._meta.get_field("anonymous_id").register_lookup(AnyOf)


def _locked(queryset: QuerySet[Any], lock: bool, order: str) -> QuerySet[Any]:
    # A consistent order makes concurrent lockers queue instead of deadlocking (mostly; retries cover the rest).
    return queryset.select_for_update().order_by(order) if lock else queryset.order_by()


def _graph_write(graph: IdentityGraph) -> None:
    """Write the graph's profile and anonymous-id changes; new profiles first, so everything can point at them."""
    rows_insert(Profile, graph.new_profiles)
    if graph.stored_merges:
        profiles_merge_stored(
            merges=[(source.profile.pk, target.current().profile.pk) for source, target in graph.stored_merges],
            now=graph.now,
        )
    rows_update(Profile, graph.changed_stored_profiles, ["email", "phone", "traits", "updated_at"])
    rows_update(AnonymousId, graph.repointed_anonymous_ids, ["profile", "linked_at"])
    rows_insert(AnonymousId, graph.new_anonymous_ids)

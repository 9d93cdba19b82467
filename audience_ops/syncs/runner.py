"""Running one sync run: claim it under a lock, plan, send in batches, move the ledger, record the outcome.

Every path that runs a sync goes through :func:`execute_run` (the RQ job, the ``syncs run`` command), so
what a test or an operator sees in the foreground is exactly what a worker does.

Guarantees:

- One run at a time per sync. The claim locks the sync row (``SELECT ... FOR UPDATE``) and a partial unique
  index allows one ``running`` run per sync; a run that finds another running with a live lease, or an
  earlier request still waiting, is recorded as ``skipped`` with the reason.
- The ledger moves only after the destination acknowledged a batch, in one transaction per batch with the
  plan items and counters, and only while the run still holds its lease (a worker that lost it stops).
- A crash loses nothing: a resumed run continues from its pending plan items, and any later run plans again
  from the ledger, so it sends exactly what the destination is missing.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audience_ops.customers.models import AnonymousId, Profile
from audience_ops.destinations.adapters.base import (
    Adapter,
    BatchResult,
    DestinationError,
    PermanentError,
    PreparedRow,
    RawIdentifiers,
    RunContext,
    TransientError,
)
from audience_ops.destinations.registry import adapter_for

from .choices import PlanItemState, PlanOp, RunState, RunTrigger
from .conf import setting
from .guardrails import before_send, held_run_blocking
from .models import LedgerEntry, RowFailure, Sync, SyncPlanItem, SyncRowError, SyncRun
from .plans import plan_run
from .services import sync_blockers
from .signals import announce_run_finished

logger = logging.getLogger(__name__)
T = TypeVar("T")

FINISHED_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.SKIPPED, RunState.CANCELLED)
# A held run is not a worker's to pick up: ops approve it (back to queued) or cancel it (guardrails).
UNCLAIMABLE_STATES = (*FINISHED_STATES, RunState.AWAITING_APPROVAL)


class LeaseLost(Exception):
    """The run is no longer ours (the sweeper or another run took over): stop without writing."""


class RetriesExhausted(Exception):
    """A platform call kept failing transiently; the run fails with the last error."""


# --- entry point -------------------------------------------------------------------------------------------


def execute_run(run_id: int, *, worker: str = "") -> SyncRun:
    """Claim and run (or resume) run ``run_id``; returns the run as it ended. Never raises for platform
    errors: they end the run as ``failed`` with the reason."""
    run = claim_run(run_id, worker=worker)
    if run is None or run.state != RunState.RUNNING:
        return SyncRun.objects.get(pk=run_id)
    execution = RunExecution(run)
    try:
        execution.execute()
    except LeaseLost:
        logger.warning("sync run %s: lease lost, stopping (another worker or the sweeper took over)", run_id)
    except PermanentError as exc:
        execution.finish(RunState.FAILED, error=f"The destination refused the request: {exc}")
    except RetriesExhausted as exc:
        execution.finish(RunState.FAILED, error=str(exc))
    except Exception as exc:
        logger.exception("sync run %s failed", run_id)
        execution.finish(RunState.FAILED, error=f"Internal error: {type(exc).__name__}: {exc}")
    return SyncRun.objects.get(pk=run_id)


def claim_run(run_id: int, *, worker: str = "") -> SyncRun | None:
    """Move run ``run_id`` to ``running`` under the sync's lock, or record why it is skipped.

    Returns None when the run is already finished or held by a live worker (a duplicate delivery of its
    job): nothing to do and nothing to record.
    """
    sync_id = SyncRun.objects.values_list("sync_id", flat=True).get(pk=run_id)
    now = timezone.now()
    with transaction.atomic():
        Sync.objects.select_for_update().filter(pk=sync_id).first()
        run = SyncRun.objects.select_for_update().get(pk=run_id)
        if run.state in UNCLAIMABLE_STATES:
            return None
        if run.state == RunState.RUNNING and run.lease_expires_at and run.lease_expires_at > now:
            return None
        others = SyncRun.objects.filter(sync_id=sync_id, state=RunState.RUNNING).exclude(pk=run.pk)
        for other in others:
            if other.lease_expires_at and other.lease_expires_at > now:
                if run.trigger == RunTrigger.RETIRE:
                    return None  # the final removal must happen: it stays queued and the sweeper retries it
                return _skip(run, f"Run {other.pk} of this sync was running; syncs never run in parallel.")
            # Its worker is gone (lease expired): this run plans again from the ledger and supersedes it.
            other.state = RunState.FAILED
            other.finished_at = now
            other.lease_expires_at = None
            other.error = f"Worker lost (lease expired); superseded by run {run.pk}."
            other.save(update_fields=["state", "finished_at", "lease_expires_at", "error"])
            announce_run_finished(other.pk)
        if held := held_run_blocking(run):
            return _skip(run, held)
        earlier = SyncRun.objects.filter(sync_id=sync_id, state=RunState.QUEUED, pk__lt=run.pk).order_by("pk").first()
        if earlier is not None and run.trigger != RunTrigger.RETIRE:
            return _skip(run, f"Run {earlier.pk} of this sync was requested earlier and will bring it up to date.")
        sync = run.sync
        if not sync.enabled and not run.dry_run and run.trigger != RunTrigger.RETIRE:
            return _skip(run, "The sync was paused after this run was requested.")
        if not run.dry_run and not sync.destination.enabled:
            return _skip(run, f"The destination {sync.destination.name} is disabled.")
        if not run.dry_run and run.trigger != RunTrigger.RETIRE:
            # The rules that allowed enabling the sync must still hold when it sends (e.g. a targeting
            # audience's suppression sync was paused since).
            blockers = sync_blockers(sync)
            if blockers:
                return _skip(run, "Not sent: " + " ".join(blockers))
        run.state = RunState.RUNNING
        run.started_at = run.started_at or now
        run.attempts += 1
        run.lease_expires_at = now + dt.timedelta(seconds=setting("SYNC_LEASE_SECONDS"))
        run.worker = worker[:200]
        run.save(update_fields=["state", "started_at", "attempts", "lease_expires_at", "worker"])
    return run


def _skip(run: SyncRun, reason: str) -> SyncRun:
    now = timezone.now()
    run.state = RunState.SKIPPED
    run.skip_reason = reason
    run.started_at = run.started_at or now
    run.finished_at = now
    run.lease_expires_at = None
    run.save(update_fields=["state", "skip_reason", "started_at", "finished_at", "lease_expires_at"])
    announce_run_finished(run.pk)
    return run


# --- one run -----------------------------------------------------------------------------------------------


@dataclass
class Batch:
    op: str
    rows: list[PreparedRow]
    unmatchable: list[int] = field(default_factory=list)
    not_sent: list[int] = field(default_factory=list)  # matchable, held back by the adapter (skip_reason)
    missing: list[int] = field(default_factory=list)  # removals with nothing left to remove


class RunExecution:
    """The state of one claimed run while it executes (one instance per claim)."""

    def __init__(self, run: SyncRun) -> None:
        self.run = run
        self.sync = Sync.objects.select_related("audience", "destination").get(pk=run.sync_id)
        self.phases: dict[str, float] = {k: float(v) for k, v in (run.phase_seconds or {}).items()}
        self.adapter: Adapter | None = None
        self.remote_id: str = self.sync.remote_audience_id
        self.audience_ensured = False
        self.batch_number = 0
        self.sent_rows = 0
        self.accepted_rows = 0
        self.row_failures_exist: bool | None = None

    # --- lease ------------------------------------------------------------------------------------------

    def renew_lease(self) -> None:
        """Extend the lease if this claim still owns the run, else raise :class:`LeaseLost`."""
        expires = timezone.now() + dt.timedelta(seconds=setting("SYNC_LEASE_SECONDS"))
        owned = SyncRun.objects.filter(pk=self.run.pk, state=RunState.RUNNING, attempts=self.run.attempts).update(
            lease_expires_at=expires
        )
        if not owned:
            raise LeaseLost(self.run.pk)

    # --- phases -----------------------------------------------------------------------------------------

    def execute(self) -> None:
        run = self.run
        if run.planned_at is None:
            started = time.monotonic()
            as_of = run.as_of or run.started_at
            with transaction.atomic():
                self.renew_lease()
                counts = plan_run(run, as_of)
                self.phases["plan"] = round(time.monotonic() - started, 3)
                SyncRun.objects.filter(pk=run.pk).update(
                    as_of=as_of,
                    planned_at=timezone.now(),
                    planned_adds=counts.adds,
                    planned_removes=counts.removes,
                    phase_seconds=self.phases,
                )
            run.refresh_from_db()
        if before_send(self):
            return  # held for ops approval (large change), or finished by retirement (remote audience deleted)
        if run.dry_run:
            self.finish(RunState.SUCCEEDED)
            return
        self.adapter = adapter_for(self.sync.destination)
        self.adapter.begin_run(self.run_context())
        batch_size = self.adapter.capabilities.batch_size
        limit = setting("SYNC_MAX_BATCH_SIZE")
        if limit:
            batch_size = min(batch_size, limit)
        self.batch_number = (
            SyncPlanItem.objects.filter(run=run, batch__isnull=False)
            .order_by("-batch")
            .values_list("batch", flat=True)
            .first()
            or 0
        )
        for batch in self.add_batches(batch_size):
            self.process(batch)
        if self.adapter.capabilities.supports_removal:
            for batch in self.remove_batches(batch_size):
                self.process(batch)
        self.finish_adapter_run()
        self.finish(RunState.SUCCEEDED, match=True)

    def run_context(self) -> RunContext:
        """The run as adapters that send more than identifiers describe it (events, webhooks, change logs)."""
        audience = self.sync.audience
        live = getattr(audience, "live_version", None)
        as_of = self.run.as_of or self.run.started_at or timezone.now()
        return RunContext(
            run_id=self.run.pk,
            sync_id=self.sync.pk,
            as_of=as_of.isoformat(),
            audience_slug=audience.slug,
            audience_name=audience.name,
            audience_kind=audience.kind,
            intent=audience.intent or "",
            offer=audience.offer or "",
            version=live.number if live is not None else None,
            destination_id=self.sync.destination_id,
            destination_name=self.sync.destination.name,
            mode=self.sync.mode,
        )

    def finish_adapter_run(self) -> None:
        """Let the adapter close the run; one that commits runs atomically publishes what it staged now,
        including what an earlier crashed run staged (its ledger entries already moved), so the next run
        after a crash catches the destination up even when it plans no change."""
        assert self.adapter is not None
        if self.adapter.capabilities.commits_runs and not self.remote_id and not self.sent_rows:
            return  # never sent anything: nothing staged, nothing to publish
        remote_id = self.ensure_remote_audience() if self.adapter.capabilities.commits_runs else self.remote_id
        started = time.monotonic()
        self.with_retries(lambda: self.adapter.finish_run(remote_id=remote_id, ok=True), "publishing the run")
        self._add_phase("send", started)

    def add_batches(self, batch_size: int) -> Iterator[Batch]:
        """Pending adds as prepared rows, ``batch_size`` sendable rows per batch (unmatchable ones ride along
        to be marked, not sent), loading each chunk's identifiers in one query."""
        assert self.adapter is not None
        batch = Batch(op=PlanOp.ADD, rows=[])
        for ids in self._pending_chunks(PlanOp.ADD, batch_size):
            started = time.monotonic()
            identifiers = {
                pk: (external_id, email, phone)
                for pk, external_id, email, phone in Profile.objects.filter(pk__in=ids).values_list(
                    "pk", "external_id", "email", "phone"
                )
            }
            traits, anonymous = self._traits(ids, identifiers)
            ready: list[Batch] = []
            for profile_id in ids:
                values = identifiers.get(profile_id)
                row = None
                if values is not None:
                    external_id, email, phone = values
                    row = self.adapter.prepare(
                        RawIdentifiers(
                            profile_id=profile_id,
                            external_id=external_id or None,
                            email=email or None,
                            phone=phone or None,
                            traits=traits.get(profile_id, {}) if traits is not None else None,
                            anonymous_id=anonymous.get(profile_id),
                        )
                    )
                if row is None:
                    batch.unmatchable.append(profile_id)
                elif row.skip_reason:
                    batch.not_sent.append(profile_id)
                else:
                    batch.rows.append(row)
                if len(batch.rows) >= batch_size:
                    ready.append(batch)
                    batch = Batch(op=PlanOp.ADD, rows=[])
            self._add_phase("prepare", started)
            yield from ready
        if batch.rows or batch.unmatchable or batch.not_sent:
            yield batch

    def _traits(self, ids: list[int], identifiers: dict) -> tuple[dict[int, dict] | None, dict[int, str]]:
        """Traits (and, for profiles without an external id, the newest anonymous id) of a chunk, loaded
        only for adapters whose ``capabilities.needs_traits``: one or two queries per chunk."""
        assert self.adapter is not None
        if not self.adapter.capabilities.needs_traits:
            return None, {}
        traits = dict(Profile.objects.filter(pk__in=ids).values_list("pk", "traits"))
        anonymous_only = [pk for pk, values in identifiers.items() if not values[0]]
        anonymous: dict[int, str] = {}
        if anonymous_only:
            for profile_id, anonymous_id in (
                AnonymousId.objects.filter(profile_id__in=anonymous_only)
                .order_by("profile_id", "linked_at", "pk")
                .values_list("profile_id", "anonymous_id")
            ):
                anonymous[profile_id] = anonymous_id  # ordered ascending: the newest link wins
        return {pk: value or {} for pk, value in traits.items()}, anonymous

    def remove_batches(self, batch_size: int) -> Iterator[Batch]:
        """Pending removals with exactly the values the ledger says were sent."""
        for ids in self._pending_chunks(PlanOp.REMOVE, batch_size):
            values = dict(
                LedgerEntry.objects.filter(sync=self.sync, profile_id__in=ids).values_list("profile_id", "values")
            )
            batch = Batch(op=PlanOp.REMOVE, rows=[])
            for profile_id in ids:
                if profile_id in values:
                    batch.rows.append(PreparedRow(profile_id=profile_id, values=values[profile_id]))
                else:
                    batch.missing.append(profile_id)
            yield batch

    def _pending_chunks(self, op: str, size: int) -> Iterator[list[int]]:
        """Profile ids of pending plan items, ascending, ``size`` at a time (keyset pagination)."""
        last = None
        while True:
            query = SyncPlanItem.objects.filter(run=self.run, op=op, state=PlanItemState.PENDING)
            if last is not None:
                query = query.filter(profile_id__gt=last)
            ids = list(query.order_by("profile_id").values_list("profile_id", flat=True)[:size])
            if not ids:
                return
            last = ids[-1]
            yield ids

    def process(self, batch: Batch) -> None:
        """Send one batch (with retries) and, once acknowledged, commit its effects."""
        result = None
        if batch.rows:
            self.renew_lease()
            self.batch_number += 1
            started = time.monotonic()
            remote_id = self.ensure_remote_audience()
            batch_id = f"run{self.run.pk}-{batch.op}-{self.batch_number}"
            send = self.adapter.add if batch.op == PlanOp.ADD else self.adapter.remove
            result = self.with_retries(
                lambda: send(remote_id=remote_id, rows=batch.rows, batch_id=batch_id), f"{batch.op} batch"
            )
            self._add_phase("send", started)
            self.sent_rows += len(batch.rows)
            self.accepted_rows += max(0, min(result.received, len(batch.rows)) - result.invalid)
        started = time.monotonic()
        self.commit(batch, result)
        self._add_phase("ledger", started)

    def commit(self, batch: Batch, result: BatchResult | None) -> None:
        """Move the ledger and the plan forward for an acknowledged batch, in one transaction.

        Set-based, because at a million members this step used to cost more than sending: the ledger rows
        go in (or out) with one statement, the batch's plan items are marked sent with one ``UPDATE`` over
        the batch's profile-id range (a batch is a contiguous run of pending items read in profile-id order;
        the few exceptions, unmatchable, not sent and rejected rows, are marked first), and row-failure
        counters are only cleared when the sync has any.
        """
        run, sync = self.run, self.sync
        errors: dict[int, str] = {}
        if result is not None:
            sent_ids = {row.profile_id for row in batch.rows}
            for error in result.row_errors:
                if error.profile_id in sent_ids:
                    errors.setdefault(error.profile_id, error.message)
        ok = [row for row in batch.rows if row.profile_id not in errors]
        ok_ids = [row.profile_id for row in ok]
        covered = [*batch.unmatchable, *batch.not_sent, *batch.missing, *(row.profile_id for row in batch.rows)]
        now = timezone.now()
        with transaction.atomic():
            self.renew_lease()
            items = SyncPlanItem.objects.filter(run=run, op=batch.op)
            if batch.op == PlanOp.ADD:
                ledger_insert(sync=sync, run=run, rows=ok, now=now)
            else:
                ledger_delete(sync=sync, profile_ids=ok_ids)
            if batch.missing:
                items.filter(profile_id__in=batch.missing).update(state=PlanItemState.SENT)
            if batch.unmatchable:
                items.filter(profile_id__in=batch.unmatchable).update(state=PlanItemState.UNMATCHABLE)
            if batch.not_sent:
                items.filter(profile_id__in=batch.not_sent).update(state=PlanItemState.NOT_SENT)
            if errors:
                items.filter(profile_id__in=list(errors)).update(state=PlanItemState.FAILED, batch=self.batch_number)
                SyncRowError.objects.bulk_create(
                    [SyncRowError(run=run, profile_id=pk, op=batch.op, message=msg) for pk, msg in errors.items()]
                )
                record_row_failures(sync=sync, op=batch.op, errors=errors)
                self.row_failures_exist = True
            if ok_ids:
                marked = items.filter(
                    state=PlanItemState.PENDING, profile_id__gte=min(covered), profile_id__lte=max(covered)
                ).update(state=PlanItemState.SENT, batch=self.batch_number)
                if marked != len(ok_ids):  # a batch is always a contiguous range; anything else is a bug
                    raise AssertionError(f"batch {self.batch_number}: marked {marked} plan items, sent {len(ok_ids)}")
                if self.has_row_failures():
                    RowFailure.objects.filter(sync=sync, op=batch.op, profile_id__in=ok_ids).delete()
            counter = "added" if batch.op == PlanOp.ADD else "removed"
            SyncRun.objects.filter(pk=run.pk).update(
                **{counter: F(counter) + len(ok)},
                unmatchable=F("unmatchable") + len(batch.unmatchable),
                not_sent=F("not_sent") + len(batch.not_sent),
                invalid=F("invalid") + (result.invalid if result else 0),
                failed_rows=F("failed_rows") + len(errors),
                phase_seconds=self.phases,
            )

    def has_row_failures(self) -> bool:
        """Whether the sync has any row-failure counter to clear (asked once per run, then tracked)."""
        if self.row_failures_exist is None:
            self.row_failures_exist = RowFailure.objects.filter(sync=self.sync).exists()
        return self.row_failures_exist

    # --- platform calls ---------------------------------------------------------------------------------

    def ensure_remote_audience(self) -> str:
        """Create the remote audience on the first send of the first run (once per run at most)."""
        if self.audience_ensured:
            return self.remote_id
        audience = self.sync.audience
        remote_id = self.with_retries(
            lambda: self.adapter.ensure_audience(
                remote_id=self.remote_id or None, name=audience.name, description=audience.purpose[:500]
            ),
            "creating the remote audience",
        )
        if remote_id != self.sync.remote_audience_id:
            Sync.objects.filter(pk=self.sync.pk).update(remote_audience_id=remote_id)
            self.sync.remote_audience_id = remote_id
        self.remote_id = remote_id
        self.audience_ensured = True
        return remote_id

    def with_retries(self, call: Callable[[], T], what: str) -> T:
        """``call()``, retried on :class:`TransientError` with exponential backoff and full jitter, never
        sooner than the platform's Retry-After; the lease is renewed while waiting."""
        attempts = setting("SYNC_RETRY_MAX_ATTEMPTS")
        for attempt in range(1, attempts + 1):
            try:
                return call()
            except TransientError as exc:
                if attempt == attempts:
                    raise RetriesExhausted(f"Gave up {what} after {attempts} attempts: {exc}") from exc
                delay = backoff_delay(attempt, retry_after=exc.retry_after)
                logger.info("sync run %s: %s failed (%s), retrying in %.2fs", self.run.pk, what, exc, delay)
                self.sleep(delay)
        raise AssertionError("unreachable")

    def sleep(self, seconds: float) -> None:
        """Wait, renewing the lease at least every third of it, so a long backoff does not look abandoned."""
        step = max(0.05, setting("SYNC_LEASE_SECONDS") / 3)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(step, left))
            self.renew_lease()

    # --- the end ----------------------------------------------------------------------------------------

    def finish(self, state: str, *, error: str = "", match: bool = False) -> None:
        """Record the outcome; on success also the match rate (see :meth:`match_figures`)."""
        updates: dict[str, Any] = {
            "state": state,
            "finished_at": timezone.now(),
            "lease_expires_at": None,
            "error": error[:5000],
            "phase_seconds": self.phases,
        }
        if match:
            updates.update(self.match_figures())
        ended = SyncRun.objects.filter(pk=self.run.pk, state=RunState.RUNNING, attempts=self.run.attempts).update(
            **updates
        )
        if ended:
            announce_run_finished(self.run.pk)

    def match_figures(self) -> dict[str, Any]:
        """``matched`` and ``match_rate`` for a run that sent something.

        The rate is the platform's matched count over the ledger size when the platform reports one;
        otherwise the share of the rows sent by this run that the platform accepted ((received - invalid) /
        sent). A run that sent nothing makes no call and keeps the previous run's figures.
        """
        if self.sent_rows == 0 or self.adapter is None:
            previous = (
                SyncRun.objects.filter(sync=self.sync, state=RunState.SUCCEEDED, match_rate__isnull=False)
                .order_by("-finished_at", "-pk")
                .values("matched", "match_rate")
                .first()
            )
            return previous or {}
        ledger_size = LedgerEntry.objects.filter(sync=self.sync).count()
        try:
            stats = self.adapter.match_stats(remote_id=self.remote_id)
        except DestinationError as exc:
            logger.warning("sync run %s: match stats unavailable (%s)", self.run.pk, exc)
            stats = None
        if stats is not None and stats.matched is not None and ledger_size:
            return {"matched": stats.matched, "match_rate": round(min(1.0, stats.matched / ledger_size), 4)}
        return {"matched": None, "match_rate": round(self.accepted_rows / self.sent_rows, 4)}

    def _add_phase(self, name: str, started: float) -> None:
        self.phases[name] = round(self.phases.get(name, 0.0) + time.monotonic() - started, 3)


def backoff_delay(attempt: int, *, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff for retry ``attempt`` (1-based), at least ``retry_after`` seconds."""
    ceiling = min(setting("SYNC_RETRY_MAX_SECONDS"), setting("SYNC_RETRY_BASE_SECONDS") * 2 ** (attempt - 1))
    delay = random.uniform(0, ceiling)
    if retry_after:
        delay = max(delay, min(float(retry_after), setting("SYNC_RETRY_MAX_SECONDS")))
    return delay


def ledger_insert(*, sync: Sync, run: SyncRun, rows: list[PreparedRow], now: dt.datetime) -> None:
    """Insert the ledger entries of acknowledged rows; an entry already there is left as it is.

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(...)`` per batch (two array parameters), so the
    statement, its parse and its round trip do not grow with the batch and no model object is built.
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        LedgerEntry.objects.bulk_create(
            [LedgerEntry(sync=sync, profile_id=r.profile_id, values=r.values, added_at=now, run=run) for r in rows],
            ignore_conflicts=True,
            batch_size=500,
        )
        return
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO {table} (sync_id, profile_id, "values", added_at, run_id) '
            "SELECT %s, u.profile_id, u.doc::jsonb, %s, %s FROM unnest(%s::bigint[], %s::text[]) AS u(profile_id, doc) "
            "ON CONFLICT (sync_id, profile_id) DO NOTHING",
            [sync.pk, now, run.pk, [r.profile_id for r in rows], [json.dumps(r.values) for r in rows]],
        )


def ledger_delete(*, sync: Sync, profile_ids: list[int]) -> None:
    """Delete the ledger entries of removed rows: one statement per batch (``= ANY(array)`` on PostgreSQL)."""
    if not profile_ids:
        return
    if connection.vendor != "postgresql":
        LedgerEntry.objects.filter(sync=sync, profile_id__in=profile_ids).delete()
        return
    table = connection.ops.quote_name(LedgerEntry._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE sync_id = %s AND profile_id = ANY(%s::bigint[])", [sync.pk, profile_ids]
        )


def record_row_failures(*, sync: Sync, op: str, errors: dict[int, str]) -> None:
    """Count one more consecutive failure per row; at the limit the row is given up (planned no more)."""
    limit = setting("SYNC_ROW_FAILURE_LIMIT")
    now = timezone.now()
    existing = {f.profile_id: f for f in RowFailure.objects.filter(sync=sync, op=op, profile_id__in=list(errors))}
    new = []
    for profile_id, message in errors.items():
        failure = existing.get(profile_id)
        if failure is None:
            failure = RowFailure(sync=sync, op=op, profile_id=profile_id)
            new.append(failure)
        failure.consecutive += 1
        failure.last_error = message[:2000]
        failure.gave_up = failure.consecutive >= limit
        failure.updated_at = now
    # Two statements per batch, however many rows the platform rejected.
    RowFailure.objects.bulk_create(new)
    RowFailure.objects.bulk_update(existing.values(), ["consecutive", "last_error", "gave_up", "updated_at"])


def run_summary(run: SyncRun) -> dict[str, Any]:
    """The one-line summary the command line prints and the job returns."""
    return {
        "run": run.pk,
        "sync": run.sync_id,
        "state": run.state,
        "dry_run": run.dry_run,
        "as_of": run.as_of.isoformat() if run.as_of else None,
        "planned_adds": run.planned_adds,
        "planned_removes": run.planned_removes,
        "added": run.added,
        "removed": run.removed,
        "unmatchable": run.unmatchable,
        "not_sent": run.not_sent,
        "invalid": run.invalid,
        "failed": run.failed_rows,
        "match_rate": run.match_rate,
        "seconds": run.duration_seconds,
        "error": run.error or run.skip_reason or None,
    }

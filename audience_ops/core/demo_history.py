"""Chapter 5 of the demo story: four weeks of simulated history, ending at the demo's start.

The demo data's events reach back 400 days, but a fresh database has no evaluations, runs or alerts, so the
dashboard would have nothing to show. On the first start (no audience has been evaluated yet) this module
plays the last four weeks through the real services, twelve hours at a time, under a simulated clock:

- every audience that is not retired is evaluated each day (``audience_evaluate(now=...)``), so membership
  spans, size snapshots and the alert checks after each evaluation are real;
- the cart-abandoner pair's syncs to Meta and TikTok (created on the first day by :func:`ensure_demo_syncs`,
  suppression first) run every 12 hours through the real runner against the sandbox, at that ``as_of``
  (the guardrail's "removes everyone" rule would hold a daily run of a 24-hour suppression every day);
- 30 hours before the end a promo ("Glow week") makes many shoppers add the Vitamin C serum to their cart;
  the events go in through the ingestion service. The cart abandoners more than double, the next
  evaluation opens a *ballooning* alert, and the next targeting runs are held by the large-change guardrail
  until Omar approves them;
- during the last two days the TikTok emulator refuses the suppression sync's calls (its error knob), so
  "Purchased in last 24 hours" stops reaching TikTok while the targeting sync keeps succeeding: a
  *suppression leak* alert opens.

At the end Omar sets the pair's syncs to the story's 15 minutes, the pair is synced to Google (and the
journey chapter's destinations), and every check runs at the demo's now (``alerts_evaluate``), so both
alerts are open when the demo starts.

Why a simulated clock: runs, ledger entries and alerts stamp themselves with ``timezone.now()``; patching it
for the duration of the history makes every component see the same simulated time, so nothing is edited
after the fact. Rows whose model default captured the clock function (the audit log's timestamps) keep the
real time. QA runs and approvals (chapter 3) happen at the real start-up time, because the QA profiles'
facts hold at the data's now only. The history sends no alert emails.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TextIO
from unittest import mock
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.test.utils import override_settings
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience, AudienceSnapshot
from audience_ops.audiences.services import audience_evaluate
from audience_ops.core.demo_journeys import ensure_demo_journey_syncs
from audience_ops.core.demo_syncs import (
    DEMO_OPERATOR,
    DEMO_SYNC_EVERY_MINUTES,
    DEMO_SYNCED_AUDIENCES,
    ensure_demo_syncs,
)
from audience_ops.core.embedded import port_is_open
from audience_ops.customers import demo_data
from audience_ops.customers.ingestion import messages_ingest
from audience_ops.customers.messages import message_parse
from audience_ops.customers.models import Profile
from audience_ops.destinations.models import Destination
from audience_ops.destinations.sandbox.client import TikTokSandboxClient
from audience_ops.destinations.sandbox.server import start_in_thread
from audience_ops.monitoring.services import alerts_evaluate
from audience_ops.syncs.choices import RunState, RunTrigger
from audience_ops.syncs.guardrails import run_approve
from audience_ops.syncs.models import Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_request_run, sync_update

HISTORY_DAYS = 28
HISTORY_STEP = dt.timedelta(hours=12)  # the pair's syncs run every 12 hours in the history; evaluations daily
HISTORY_SYNC_EVERY_MINUTES = 12 * 60
PROMO_HOURS_AGO = 30
PROMO_EVERY_NTH_SHOPPER = 16  # one known shopper in 16 adds the promo serum to their cart
PROMO_PRODUCT = demo_data.PRODUCTS_BY_ID["sk-vitc-serum"]
PROMO_COUPON = "GLOWWEEK"
LEAK_DAYS = 2  # the TikTok suppression sync fails on the last LEAK_DAYS days
LEAK_DESTINATION_KIND = "tiktok_audience"
LEAK_ERROR_CODE = 40002
LEAK_ERROR_MESSAGE = "The audience is locked by another operation; the change was not applied"
APPROVAL_DELAY = dt.timedelta(hours=2)  # Omar approves a held run two hours after it was held
APPROVAL_NOTE = "Glow week promo: the jump in cart abandoners is expected."


@dataclass
class HistorySummary:
    """What the history produced, for the demo's output and the tests."""

    start: dt.datetime
    end: dt.datetime
    evaluations: int = 0
    runs: dict[str, int] = field(default_factory=dict)  # run state -> count
    promo_events: int = 0
    held_and_approved: int = 0
    alerts_open: dict[str, int] = field(default_factory=dict)


class SimulatedClock:
    """A clock set to a simulated time that keeps ticking in real time (so durations stay real)."""

    def __init__(self, start: dt.datetime) -> None:
        self.set(start)

    def set(self, at: dt.datetime) -> None:
        self._at = at
        self._set_at = time.monotonic()

    def advance(self, to: dt.datetime) -> None:
        """Move to ``to`` unless the clock is already past it: simulated time never goes back."""
        if to > self.now():
            self.set(to)

    def now(self) -> dt.datetime:
        return self._at + dt.timedelta(seconds=time.monotonic() - self._set_at)


@contextmanager
def simulated_time(start: dt.datetime) -> Iterator[SimulatedClock]:
    """Every ``timezone.now()`` in this process reads ``clock`` until the block ends (no alert emails)."""
    clock = SimulatedClock(start)
    with mock.patch.object(timezone, "now", clock.now), override_settings(ALERT_EMAIL_ENABLED=False):
        yield clock


@contextmanager
def sandbox_listening() -> Iterator[None]:
    """Make sure the sandbox answers at ``SANDBOX_BASE_URL`` for the block.

    The demo starts the sandbox process before the history when it serves, so the emulators keep what the
    history sent. Otherwise (``--no-serve``, tests) a sandbox is served from a thread of this process for the
    history only.
    """
    parts = urlsplit(settings.SANDBOX_BASE_URL)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if port_is_open(host, port):
        yield
        return
    running = start_in_thread(host, port)
    try:
        yield
    finally:
        running.stop()


def history_wanted() -> bool:
    """True on a fresh demo database: nothing has been evaluated yet, so the history can start in the past."""
    return not AudienceSnapshot.objects.exists()


def run_demo_history(
    *,
    stdout: TextIO,
    now: dt.datetime,
    destinations: Sequence[Destination],
    later_destinations: Sequence[Destination] = (),
    journeys: bool = True,
    days: int = HISTORY_DAYS,
) -> HistorySummary:
    """Play ``days`` days of history ending at ``now`` (see the module docstring); returns what happened.

    ``destinations`` receive the cart-abandoner pair for the whole history; ``later_destinations`` (Google)
    only get their syncs, and a first run, at ``now``, as do the journey chapter's destinations (analytics,
    webhook, warehouse: :func:`ensure_demo_journey_syncs`) unless ``journeys=False``.
    """
    start = now - dt.timedelta(days=days)
    summary = HistorySummary(start=start, end=now)
    omar = get_user_model().objects.filter(username=DEMO_OPERATOR).first()
    promo_at = now - dt.timedelta(hours=PROMO_HOURS_AGO)
    leak_from = now - dt.timedelta(days=LEAK_DAYS) + dt.timedelta(minutes=1)
    steps_per_day = round(dt.timedelta(days=1) / HISTORY_STEP)
    steps = [start + step * HISTORY_STEP for step in range(days * steps_per_day + 1)]
    with sandbox_listening(), simulated_time(start) as clock:
        syncs: list[Sync] = []
        for step, at in enumerate(steps):
            if summary.promo_events == 0 and at > promo_at:
                clock.advance(promo_at)
                summary.promo_events = ingest_promo_spike(at=promo_at)
            clock.advance(at)
            if step % steps_per_day == 0:
                summary.evaluations += _evaluate_all(at)
            if step == 0:
                # The first runs happen inside ensure_demo_syncs (at the clock's time, on the day's membership).
                syncs = ensure_demo_syncs(
                    stdout=_Quiet(), destinations=destinations, every_minutes=HISTORY_SYNC_EVERY_MINUTES
                )
                continue
            for sync in syncs:
                with _tiktok_refusing(at >= leak_from and _is_leaking_sync(sync)):
                    run = _run_sync(sync, at=at)
                    if run.state == RunState.AWAITING_APPROVAL and omar is not None:
                        clock.advance(min(at + APPROVAL_DELAY, now))  # the history never runs past now
                        run_approve(actor=omar, run=run, note=APPROVAL_NOTE, enqueue=False)
                        run = execute_run(run.pk, worker="demo-history")
                        summary.held_and_approved += 1
        clock.advance(now)
        if omar is not None:
            # Today Omar tightens the pair's syncs to the story's 15 minutes; the scheduler takes over from here.
            for sync in syncs:
                sync_update(actor=omar, sync=sync, every_minutes=DEMO_SYNC_EVERY_MINUTES)
        if later_destinations:
            syncs += ensure_demo_syncs(stdout=stdout, destinations=later_destinations)
        if journeys:
            # The analytics, webhook and (on PostgreSQL) warehouse destinations join today too.
            syncs += ensure_demo_journey_syncs(stdout=stdout)
        result = alerts_evaluate(now=now)
    summary.alerts_open = result.active
    for state in SyncRun.objects.filter(sync__in=syncs).values_list("state", flat=True):
        summary.runs[state] = summary.runs.get(state, 0) + 1
    stdout.write(
        f"  History: {days} days from {start:%Y-%m-%d} ({summary.evaluations} evaluations, "
        f"{sum(summary.runs.values())} sync runs, a promo spike of {summary.promo_events} carts, "
        f"{summary.held_and_approved} runs held by the guardrail and approved)\n"
    )
    for kind, count in sorted(summary.alerts_open.items()):
        stdout.write(f"  Open alerts: {kind} x{count}\n")
    return summary


def ingest_promo_spike(*, at: dt.datetime) -> int:
    """The Glow week promo: one known shopper in 16 adds the serum to their cart within two hours of ``at``.

    Deterministic (shoppers by external id, fixed message ids, so a second call stores nothing) and sent
    through the ingestion service like any tracked event. Returns how many events were stored.
    """
    external_ids = list(
        Profile.objects.filter(external_id__startswith="cus_")
        .exclude(Q(traits__unsubscribed=True))
        .order_by("external_id")
        .values_list("external_id", flat=True)
    )[::PROMO_EVERY_NTH_SHOPPER]
    window = 2 * 3600
    properties = {
        "category": PROMO_PRODUCT.category,
        "product_id": PROMO_PRODUCT.product_id,
        "price": PROMO_PRODUCT.price,
        "quantity": 1,
        "coupon": PROMO_COUPON,
    }
    messages = [
        message_parse(
            {
                "type": "track",
                "userId": external_id,
                "event": demo_data.PRODUCT_ADDED,
                "properties": properties,
                "timestamp": (at + dt.timedelta(seconds=index * window // max(1, len(external_ids)))).isoformat(),
                "messageId": f"demo-promo-{external_id}",
            }
        )
        for index, external_id in enumerate(external_ids)
    ]
    counts = messages_ingest(messages=messages, received_at=at)
    return counts.events_stored


def _evaluate_all(at: dt.datetime) -> int:
    """Evaluate every audience that is not retired at ``at`` (as the scheduled evaluation job does)."""
    audiences = list(Audience.objects.exclude(status=AudienceStatus.RETIRED).order_by("slug"))
    for audience in audiences:
        audience_evaluate(audience=audience, now=at)
    return len(audiences)


def _is_leaking_sync(sync: Sync) -> bool:
    """The sync whose failure the history plays: the suppression's sync to the TikTok sandbox."""
    return sync.audience.slug == DEMO_SYNCED_AUDIENCES[0] and sync.destination.kind == LEAK_DESTINATION_KIND


def _run_sync(sync: Sync, *, at: dt.datetime) -> SyncRun:
    """A scheduled run of ``sync`` at ``at`` through the real runner, in this process."""
    run = sync_request_run(
        actor=None, sync=sync, trigger=RunTrigger.SCHEDULE, as_of=at, enqueue=False, actor_label="schedule"
    )
    return execute_run(run.pk, worker="demo-history")


@contextmanager
def _tiktok_refusing(refuse: bool) -> Iterator[None]:
    """With ``refuse``, the TikTok emulator answers every call of the block with a permanent error."""
    if not refuse:
        yield
        return
    tiktok = TikTokSandboxClient(settings.SANDBOX_BASE_URL)
    tiktok.error(1000, LEAK_ERROR_CODE, LEAK_ERROR_MESSAGE)
    try:
        yield
    finally:
        tiktok.error(0, LEAK_ERROR_CODE)


class _Quiet:
    """A stdout that swallows ensure_demo_syncs's per-run lines (the history prints one summary)."""

    def write(self, text: str) -> None:
        return None

"""The sync engine's tunables, read from settings at call time (tests shrink the delays)."""

from __future__ import annotations

from django.conf import settings

DEFAULTS = {
    # A running run renews its lease at every batch; a run past its lease was abandoned by its worker.
    "SYNC_LEASE_SECONDS": 300,
    # Attempts per platform call on transient errors (rate limits, 5xx, timeouts) before the run fails.
    "SYNC_RETRY_MAX_ATTEMPTS": 8,
    # Exponential backoff with full jitter: sleep uniform(0, min(max, base * 2**n)), at least Retry-After.
    "SYNC_RETRY_BASE_SECONDS": 2.0,
    "SYNC_RETRY_MAX_SECONDS": 300.0,
    # Rows per request, below the destination's own limit (0 = the destination's limit).
    "SYNC_MAX_BATCH_SIZE": 0,
    # The sweeper re-enqueues a run still queued this long after it was requested.
    "SYNC_REQUEUE_AFTER_SECONDS": 120,
    # How many times a run abandoned by its worker is resumed before it is failed.
    "SYNC_MAX_RUN_ATTEMPTS": 3,
    # Consecutive failures of one row before it is given up (marked failed, no longer retried).
    "SYNC_ROW_FAILURE_LIMIT": 5,
    # Large-change guardrail defaults (a sync may override each): hold a run for ops approval when it would
    # remove more than this share of what the destination holds, or add more than this share of it...
    "SYNC_GUARDRAIL_MAX_REMOVE_PERCENT": 20,
    "SYNC_GUARDRAIL_MAX_ADD_PERCENT": 50,
    # ...unless the change touches fewer people than this (tiny audiences swing by large shares).
    # A run that would remove everyone the destination holds is held whatever its size.
    "SYNC_GUARDRAIL_MIN_ROWS": 100,
}


def setting(name: str):
    return getattr(settings, name, DEFAULTS[name])

"""Alert thresholds and notification settings, read from Django settings at call time with these defaults.

Reading at call time (not import time) lets tests and operators change a threshold without a restart of the
module; every name is documented in ``docs/monitoring.md``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # How often the periodic job runs every check.
    "ALERT_EVALUATE_INTERVAL_SECONDS": 300,
    # Ballooning / collapse: latest size against the median of the previous N snapshots.
    "ALERT_SIZE_FACTOR": 2.0,
    "ALERT_SIZE_HISTORY": 7,
    "ALERT_SIZE_MIN_HISTORY": 3,
    "ALERT_SIZE_MIN_SIZE": 100,
    # Stale: a sync whose last success is older than FACTOR x its cadence; a live audience whose last
    # evaluation is older than FACTOR x AUDIENCE_EVALUATION_INTERVAL_SECONDS.
    "ALERT_STALE_FACTOR": 2.0,
    # Suppression leak: grace for a targeting sync without a cadence (manual runs only), in minutes.
    "ALERT_LEAK_GRACE_MINUTES": 60,
    # Match rate: below the threshold (per destination name, else the default), or below
    # (1 - DROP) x the median of the previous N successful runs (with at least MIN_HISTORY of them).
    "ALERT_MATCH_RATE_MIN": 0.3,
    "ALERT_MATCH_RATE_MIN_BY_DESTINATION": {},
    "ALERT_MATCH_RATE_DROP": 0.25,
    "ALERT_MATCH_RATE_HISTORY": 7,
    "ALERT_MATCH_RATE_MIN_HISTORY": 3,
    # Failing: this many consecutive failed runs of a sync.
    "ALERT_FAILING_RUNS": 3,
    # Near retirement: days before retire_on.
    "ALERT_RETIREMENT_DAYS": 14,
    # Notifications: email to the owner and ops, and an optional Standard Webhooks signed POST.
    "ALERT_EMAIL_ENABLED": True,
    "ALERT_SITE_URL": "",
    "ALERT_WEBHOOK_URL": "",
    "ALERT_WEBHOOK_SECRET": "",
    "ALERT_WEBHOOK_TIMEOUT_SECONDS": 3.0,
}


def setting(name: str) -> Any:
    return getattr(settings, name, DEFAULTS[name])

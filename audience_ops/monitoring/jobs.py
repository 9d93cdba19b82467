"""The periodic alert job, registered in ``audience_ops/cron.py`` every ``ALERT_EVALUATE_INTERVAL_SECONDS``.

It is the safety net under the hooks that run after each evaluation and sync run: conditions that arise
from time passing alone (a sync that stopped running, a retirement date coming close) have no event to hook.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from .conf import setting
from .services import alerts_evaluate

ALERTS_INTERVAL_SECONDS = int(setting("ALERT_EVALUATE_INTERVAL_SECONDS"))


def evaluate_alerts() -> dict[str, Any]:
    """Run every check at the current time; returns the summary (kept as the job's result)."""
    return alerts_evaluate(now=timezone.now()).as_dict()

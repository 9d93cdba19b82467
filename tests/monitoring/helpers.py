"""Helpers for alert tests: live audiences, evaluations that run the after-commit alert hook, sync runs."""

from __future__ import annotations

import datetime as dt

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate
from audience_ops.monitoring.models import Alert
from audience_ops.monitoring.services import alerts_evaluate
from audience_ops.syncs.models import SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_request_run
from tests.audiences.helpers import audience_dict, create_audiences
from tests.syncs.helpers import IN_RULE

BOUGHT_RULE = {"attribute": "bought", "op": "eq", "value": "yes"}


def live_audience(slug: str = "watched", rule: dict | None = None, **extra) -> Audience:
    """A live analytics audience of the profiles whose ``seg`` trait is "in" (owner maria must exist)."""
    (audience,) = create_audiences(audience_dict(slug, rule or IN_RULE, **extra))
    go_live(audience)
    return audience


def go_live(*audiences: Audience) -> None:
    Audience.objects.filter(pk__in=[a.pk for a in audiences]).update(status="live")
    for audience in audiences:
        audience.refresh_from_db()


def ads_pair() -> tuple[Audience, Audience]:
    """A live targeting ads audience ("seg" is "in") and its live paired suppression ("bought" is "yes")."""
    suppression, targeting = create_audiences(
        audience_dict("bought-today", BOUGHT_RULE, kind="suppression", objective="ads"),
        audience_dict("cart-3d", IN_RULE, kind="targeting", objective="ads", paired_suppression="bought-today"),
    )
    go_live(targeting, suppression)
    return targeting, suppression


def evaluate(capture, audience: Audience, now: dt.datetime):
    """Evaluate ``audience`` at ``now`` and run what its commit triggers (the alert hook, notifications)."""
    with capture(execute=True):
        return audience_evaluate(audience=audience, now=now)


def check_all(capture, now: dt.datetime):
    """Run every alert check at ``now``, sending the notifications its commit triggers."""
    with capture(execute=True):
        return alerts_evaluate(now=now)


def run_now(sync) -> SyncRun:
    """Run ``sync`` in the foreground through the engine's own code path."""
    run = sync_request_run(actor=None, sync=sync, enqueue=False)
    return execute_run(run.pk)


def active(kind: str) -> list[Alert]:
    return list(Alert.objects.active().filter(kind=kind))


def the_alert(kind: str) -> Alert:
    (alert,) = active(kind)
    return alert

"""Raising, updating, resolving and acknowledging alerts, and running every check.

Checks (in :mod:`.checks`) only compute conditions; they report them through :func:`alert_raise` (the
condition holds) and :func:`alert_resolve_missing` (the subjects they examined where it no longer holds), so
the rules "one condition is one alert", "notify on first open and on escalation" and "a condition that went
away resolves its alert" live here, once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import audit_record, json_safe, model_snapshot

from .choices import ACTIVE_STATES, AlertKind, AlertSeverity, AlertState
from .models import Alert

logger = logging.getLogger(__name__)

AUDIT_FIELDS = ("kind", "key", "severity", "state", "subject_label", "message", "note")


@dataclass(frozen=True)
class Subject:
    """What an alert is about: the key suffix, a readable label and the foreign keys to store."""

    ref: str
    label: str
    audience: Any = None
    sync: Any = None
    destination: Any = None

    @classmethod
    def for_audience(cls, audience: Any) -> Subject:
        return cls(ref=f"audience:{audience.pk}", label=audience.name, audience=audience)

    @classmethod
    def for_sync(cls, sync: Any) -> Subject:
        return cls(
            ref=f"sync:{sync.pk}",
            label=f"{sync.audience.name} -> {sync.destination.name}",
            audience=sync.audience,
            sync=sync,
            destination=sync.destination,
        )

    @classmethod
    def for_destination(cls, destination: Any) -> Subject:
        return cls(ref=f"destination:{destination.pk}", label=destination.name, destination=destination)

    def key(self, kind: str) -> str:
        return f"{kind}:{self.ref}"


# --- raising and resolving (the checks' side) ----------------------------------------------------------------


def alert_raise(
    *,
    kind: str,
    subject: Subject,
    message: str,
    severity: str = AlertSeverity.WARNING,
    details: dict[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Alert:
    """Open the alert for (kind, subject), or update the active one: one condition is one alert.

    A new alert and an alert whose severity went up notify the owner, ops and the webhook (after commit,
    so a rolled-back check sends nothing). An escalated alert that had been acknowledged opens again: what
    ops acknowledged was the milder condition. Repeated sightings only move ``last_seen`` and the figures.
    """
    if kind not in AlertKind.values:
        raise ValidationError({"kind": f"{kind!r} is not an alert kind"})
    if severity not in AlertSeverity.values:
        raise ValidationError({"severity": f"{severity!r} is not a severity"})
    now = now or timezone.now()
    key = subject.key(kind)
    details = json_safe(details or {})
    for attempt in range(2):
        try:
            return _upsert(kind, key, subject, message, severity, details, now)
        except IntegrityError:
            # Another process opened the same key between our read and our insert: update theirs instead.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _upsert(
    kind: str, key: str, subject: Subject, message: str, severity: str, details: dict[str, Any], now: dt.datetime
) -> Alert:
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(key=key, state__in=ACTIVE_STATES).first()
        if alert is None:
            alert = Alert.objects.create(
                kind=kind,
                key=key,
                severity=severity,
                state=AlertState.OPEN,
                audience=subject.audience,
                sync=subject.sync,
                destination=subject.destination,
                subject_label=subject.label[:300],
                message=message,
                details=details,
                first_seen=now,
                last_seen=now,
                notified_at=now,
            )
            audit_record(actor=None, action="alert.open", obj=alert, after=model_snapshot(alert, AUDIT_FIELDS))
            _notify_on_commit(alert, event="alert.opened")
            return alert
        escalated = AlertSeverity(severity).rank > AlertSeverity(alert.severity).rank
        before = model_snapshot(alert, AUDIT_FIELDS)
        alert.severity = severity
        alert.message = message
        alert.details = details
        alert.subject_label = subject.label[:300]
        alert.last_seen = max(alert.last_seen, now)
        if escalated:
            alert.state = AlertState.OPEN
            alert.acknowledged_at = None
            alert.acknowledged_by = None
            alert.notified_at = now
        alert.save()
        if escalated:
            audit_record(
                actor=None, action="alert.escalate", obj=alert, before=before, after=model_snapshot(alert, AUDIT_FIELDS)
            )
            _notify_on_commit(alert, event="alert.escalated")
        return alert


def alert_resolve_missing(
    kind: str,
    keys_still_true: Iterable[str],
    *,
    among: Iterable[str] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Resolve the active alerts of ``kind`` whose condition no longer holds; returns how many.

    ``keys_still_true`` are the keys the check just found; ``among`` limits the sweep to the keys the check
    examined (a check of one audience must not resolve the alerts of others). ``None`` means the check
    examined every subject, so an alert whose subject disappeared (deleted, paused, retired) resolves too.
    """
    now = now or timezone.now()
    still = set(keys_still_true)
    query = Alert.objects.filter(kind=kind, state__in=ACTIVE_STATES).exclude(key__in=still)
    if among is not None:
        query = query.filter(key__in=set(among) - still)
    resolved = 0
    with transaction.atomic():
        for alert in query.select_for_update():
            before = model_snapshot(alert, AUDIT_FIELDS)
            alert.state = AlertState.RESOLVED
            alert.resolved_at = now
            alert.save(update_fields=["state", "resolved_at"])
            audit_record(
                actor=None,
                action="alert.resolve",
                obj=alert,
                before=before,
                after=model_snapshot(alert, AUDIT_FIELDS),
                reason="The condition is no longer present.",
            )
            resolved += 1
    return resolved


def alert_clear(*, kind: str, subject: Subject, now: dt.datetime | None = None) -> int:
    """Resolve the active alert of (kind, subject), if any: for callers that know the condition ended (a
    held run that was approved or cancelled). Returns how many were resolved (0 or 1)."""
    key = subject.key(kind)
    return alert_resolve_missing(kind, (), among=[key], now=now)


# --- ops actions --------------------------------------------------------------------------------------------


def alert_acknowledge(*, actor: AbstractBaseUser | None, alert: Alert, note: str = "", actor_label: str = "") -> Alert:
    """Ops saw it and are on it: the alert stays active (and keeps updating) but no longer counts as open."""
    ensure_permission(actor, "monitoring.change_alert")

    def refusal(current: Alert) -> str | None:
        if current.state != AlertState.OPEN:
            return f"Only an open alert can be acknowledged (this one is {current.state})."
        return None

    return _alert_set_state(
        actor=actor,
        alert=alert,
        state=AlertState.ACKNOWLEDGED,
        by_field="acknowledged_by",
        at_field="acknowledged_at",
        action="alert.acknowledge",
        refusal=refusal,
        note=note,
        actor_label=actor_label,
    )


def alert_resolve(*, actor: AbstractBaseUser | None, alert: Alert, note: str = "", actor_label: str = "") -> Alert:
    """Ops close the alert by hand; if the condition still holds, the next check opens a new alert."""
    ensure_permission(actor, "monitoring.change_alert")

    def refusal(current: Alert) -> str | None:
        return "This alert is already resolved." if current.state == AlertState.RESOLVED else None

    return _alert_set_state(
        actor=actor,
        alert=alert,
        state=AlertState.RESOLVED,
        by_field="resolved_by",
        at_field="resolved_at",
        action="alert.resolve",
        refusal=refusal,
        note=note,
        actor_label=actor_label,
    )


def _alert_set_state(
    *,
    actor: AbstractBaseUser | None,
    alert: Alert,
    state: str,
    by_field: str,
    at_field: str,
    action: str,
    refusal: Callable[[Alert], str | None],
    note: str,
    actor_label: str,
) -> Alert:
    """One ops action on an alert, on the locked row: ``refusal`` (of the current row) is the reason it is
    not allowed, else the new state, who and when, the note, and the audit entry, in one transaction."""
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        refused = refusal(alert)
        if refused:
            raise ValidationError({"state": refused})
        before = model_snapshot(alert, AUDIT_FIELDS)
        alert.state = state
        setattr(alert, by_field, actor)
        setattr(alert, at_field, timezone.now())
        alert.note = note.strip()
        alert.save()
        audit_record(
            actor=actor,
            action=action,
            obj=alert,
            before=before,
            after=model_snapshot(alert, AUDIT_FIELDS),
            reason=note,
            actor_label=actor_label,
        )
    return alert


# --- running the checks ---------------------------------------------------------------------------------------


@dataclass
class EvaluationSummary:
    """What one run of the checks found: active alerts per kind, and how many opened and resolved."""

    now: dt.datetime
    active: dict[str, int] = field(default_factory=dict)
    opened: int = 0
    resolved: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "active": self.active,
            "opened": self.opened,
            "resolved": self.resolved,
            "errors": self.errors,
        }


def alerts_evaluate(*, now: dt.datetime | None = None) -> EvaluationSummary:
    """Run every check at ``now``; one failing check is logged and reported, never stops the others."""
    from .checks import ALL_CHECKS

    now = now or timezone.now()
    summary = EvaluationSummary(now=now)
    resolved_before = Alert.objects.filter(state=AlertState.RESOLVED).count()
    last_id = Alert.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    for check in ALL_CHECKS:
        try:
            check(now=now)
        except Exception as exc:  # a broken check must not hide what the others find
            logger.exception("alert check %s failed", check.__name__)
            summary.errors.append(f"{check.__module__}.{check.__name__}: {type(exc).__name__}: {exc}")
    summary.opened = Alert.objects.filter(pk__gt=last_id).count()
    summary.resolved = Alert.objects.filter(state=AlertState.RESOLVED).count() - resolved_before
    summary.active = dict(
        Alert.objects.active().order_by("kind").values("kind").annotate(n=Count("pk")).values_list("kind", "n")
    )
    return summary


def alerts_after_evaluation(audience: Any, *, now: dt.datetime | None = None) -> None:
    """The checks an evaluation of ``audience`` can change, right after it commits.

    ``now`` defaults to the evaluation's own time (its latest snapshot), so a simulated history evaluated
    at successive times is judged at those times. Never raises: an alert check must not fail an evaluation.
    """
    from .checks import for_audience

    try:
        if now is None:
            latest = audience.snapshots.order_by("-evaluated_at", "-pk").values_list("evaluated_at", flat=True).first()
            now = latest or timezone.now()
        for_audience(audience=audience, now=now)
    except Exception:
        logger.exception("alert checks after evaluating audience %s failed", getattr(audience, "pk", audience))


def alerts_after_sync_run(run: Any, *, now: dt.datetime | None = None) -> None:
    """The checks a finished sync run can change (staleness, leaks, match rate, failures, credentials).

    Meant for a "sync run finished" signal of the sync engine; never raises.
    """
    from .checks import for_sync

    try:
        for_sync(sync=run.sync, now=now or run.finished_at or timezone.now())
    except Exception:
        logger.exception("alert checks after sync run %s failed", getattr(run, "pk", run))


def _notify_on_commit(alert: Alert, *, event: str) -> None:
    from .notifications import alert_notify

    alert_id = alert.pk
    transaction.on_commit(lambda: alert_notify(alert_id=alert_id, event=event))

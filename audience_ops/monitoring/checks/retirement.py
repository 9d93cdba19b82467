"""Near retirement: audiences whose ``retire_on`` is within ``ALERT_RETIREMENT_DAYS`` days (or past).

The owner should extend the date with a reason or let the audience retire; a warning once the date has
passed, info before.
"""

from __future__ import annotations

import datetime as dt

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience

from ..choices import AlertKind, AlertSeverity
from ..conf import setting
from ..services import Subject, alert_raise, alert_resolve_missing

WATCHED = (AudienceStatus.LIVE, AudienceStatus.PAUSED, AudienceStatus.APPROVED)


def check_near_retirement(*, now: dt.datetime, audiences: list[Audience] | None = None) -> None:
    scoped = audiences is not None
    if audiences is None:
        audiences = list(Audience.objects.filter(status__in=WATCHED))
    days = int(setting("ALERT_RETIREMENT_DAYS"))
    today = now.date()
    found, examined = set(), set()
    for audience in audiences:
        subject = Subject.for_audience(audience)
        examined.add(subject.key(AlertKind.NEAR_RETIREMENT))
        if audience.status not in WATCHED:
            continue
        left = (audience.retire_on - today).days
        if left > days:
            continue
        if left < 0:
            when = f"was due to retire {-left} day{'s' if left != -1 else ''} ago ({audience.retire_on:%Y-%m-%d})"
        elif left == 0:
            when = "is due to retire today"
        else:
            when = f"retires in {left} day{'s' if left != 1 else ''} ({audience.retire_on:%Y-%m-%d})"
        alert_raise(
            kind=AlertKind.NEAR_RETIREMENT,
            subject=subject,
            severity=AlertSeverity.WARNING if left < 0 else AlertSeverity.INFO,
            message=f"{audience.name} {when}: extend its date with a reason or retire it.",
            details={"retire_on": audience.retire_on, "days_left": left},
            now=now,
        )
        found.add(subject.key(AlertKind.NEAR_RETIREMENT))
    alert_resolve_missing(AlertKind.NEAR_RETIREMENT, found, among=examined if scoped else None, now=now)

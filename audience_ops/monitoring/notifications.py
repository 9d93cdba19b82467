"""Telling people about an alert: email to the audience owner and ops, and an optional signed webhook.

Both run after the alert's transaction committed and both swallow their own failures (logged): a mail
server or chat tool that is down must never stop a check or roll back an alert. The webhook POST has a
short timeout, so a slow chat tool delays the check by at most that long.

The webhook is signed the Standard Webhooks way (https://www.standardwebhooks.com/): headers
``webhook-id``, ``webhook-timestamp`` and ``webhook-signature: v1,<base64 HMAC-SHA256 of
"{id}.{timestamp}.{body}">``, keyed with the base64 secret after the ``whsec_`` prefix; any Standard
Webhooks library verifies it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from audience_ops.accounts.roles import Role

from .conf import setting
from .models import Alert

logger = logging.getLogger(__name__)

SIGNATURE_VERSION = "v1"


def alert_notify(*, alert_id: int, event: str) -> None:
    """Send the email and the webhook for ``event`` ("alert.opened" or "alert.escalated") of an alert."""
    alert = Alert.objects.select_related("audience__owner", "sync__audience__owner").filter(pk=alert_id).first()
    if alert is None:
        return
    if setting("ALERT_EMAIL_ENABLED"):
        _send_email(alert, event)
    if setting("ALERT_WEBHOOK_URL"):
        _send_webhook(alert, event)


def alert_recipients(alert: Alert) -> list[str]:
    """The owner of the audience concerned (if any) and every active ops user with an email address."""
    emails: list[str] = []
    audience = alert.audience or (alert.sync.audience if alert.sync_id else None)
    if audience is not None and audience.owner.is_active and audience.owner.email:
        emails.append(audience.owner.email)
    ops = get_user_model().objects.filter(is_active=True, groups__name=Role.OPS).exclude(email="")
    for email in ops.order_by("pk").values_list("email", flat=True):
        if email not in emails:
            emails.append(email)
    return emails


def alert_url(alert: Alert) -> str:
    """Where the alert is seen: absolute when ``ALERT_SITE_URL`` is set, else the path."""
    path = reverse("monitoring:alert_list") + f"?kind={alert.kind}"
    return setting("ALERT_SITE_URL").rstrip("/") + path


def alert_payload(alert: Alert, event: str) -> dict[str, Any]:
    """The JSON the webhook receives (also the shape of ``alerts list --json``, under ``data``)."""
    return {
        "type": event,
        "timestamp": alert.last_seen.isoformat(),
        "data": {
            "id": alert.pk,
            "kind": alert.kind,
            "subject": alert.subject_label,
            "severity": alert.severity,
            "state": alert.state,
            "first_seen": alert.first_seen.isoformat(),
            "last_seen": alert.last_seen.isoformat(),
            "message": alert.message,
            "details": alert.details,
            "url": alert_url(alert),
        },
    }


def sign_webhook(*, secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The Standard Webhooks ``webhook-signature`` header value for ``body``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def _send_email(alert: Alert, event: str) -> None:
    recipients = alert_recipients(alert)
    if not recipients:
        return
    verb = "escalated" if event == "alert.escalated" else "opened"
    subject = f"[Audience Ops] {alert.get_severity_display()}: {alert.get_kind_display()} - {alert.subject_label}"
    body = (
        f"An alert was {verb}.\n\n"
        f"{alert.message}\n\n"
        f"Kind: {alert.get_kind_display()}\n"
        f"Subject: {alert.subject_label}\n"
        f"Severity: {alert.get_severity_display()}\n"
        f"First seen: {alert.first_seen:%Y-%m-%d %H:%M} UTC\n\n"
        f"Acknowledge or resolve it at {alert_url(alert)}\n"
    )
    try:
        send_mail(subject[:200], body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.exception("alert %s: email notification failed", alert.pk)


def _send_webhook(alert: Alert, event: str) -> None:
    body = json.dumps(alert_payload(alert, event), separators=(",", ":"))
    msg_id = f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": str(timestamp)}
    secret = setting("ALERT_WEBHOOK_SECRET")
    if secret:
        try:
            headers["webhook-signature"] = sign_webhook(secret=secret, msg_id=msg_id, timestamp=timestamp, body=body)
        except (ValueError, TypeError):
            logger.error("ALERT_WEBHOOK_SECRET is not a whsec_ base64 secret; the alert webhook is not sent")
            return
    timeout = float(setting("ALERT_WEBHOOK_TIMEOUT_SECONDS"))
    try:
        response = requests.post(
            setting("ALERT_WEBHOOK_URL"), data=body.encode(), headers=headers, timeout=(timeout, timeout)
        )
        if response.status_code >= 300:
            logger.warning("alert %s: webhook answered HTTP %s", alert.pk, response.status_code)
    except requests.RequestException as exc:
        logger.warning("alert %s: webhook not delivered (%s)", alert.pk, type(exc).__name__)

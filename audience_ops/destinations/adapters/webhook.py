"""Signed webhooks (Standard Webhooks v1): one JSON POST per batch of membership changes.

Headers: ``webhook-id`` (stable across retries of the same batch: the receiver's idempotency key),
``webhook-timestamp`` (unix seconds of this attempt) and ``webhook-signature`` = ``v1,<base64 HMAC-SHA256>``
of ``"{id}.{timestamp}.{body}"`` keyed with the base64-decoded part of the ``whsec_`` secret. The body::

    {"type": "audience.membership_changed", "timestamp": "...",
     "data": {"audience": {slug, name, kind, intent, offer, version}, "run_id", "sync_id", "as_of",
              "changes": [{"change": "entered"|"exited", "profile_key", "external_id"?, "email_sha256"?}]}}

Only 2xx is success (redirects are not followed). 429, 5xx, timeouts and connection errors are transient
(``Retry-After`` honoured); 410 Gone means the endpoint is gone for good: the destination is disabled, an
alert is raised and the run fails; any other status is permanent.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django import forms

from .. import normalise
from . import config_checks, config_fields, http
from .base import (
    Adapter,
    BatchResult,
    Capabilities,
    ConfigError,
    MatchStats,
    PermanentError,
    PreparedRow,
    RawIdentifiers,
)

logger = logging.getLogger(__name__)

BATCH_SIZE = 100  # keeps a body near the spec's recommended 20 KB
EVENT_TYPE = "audience.membership_changed"
CHANGES = {"add": "entered", "remove": "exited"}
SECRET_PREFIX = "whsec_"
_CONFIG_KEYS = ("url", "secret")


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded bytes after ``whsec_`` (not the string itself)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``, the Standard Webhooks symmetric signature."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookAdapter(Adapter):
    """Posts membership changes to an HTTPS endpoint, signed per Standard Webhooks."""

    kind: ClassVar[str] = "webhook"
    label: ClassVar[str] = "Signed webhook"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"secret"})

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        errors: dict[str, str] = {}
        config_checks.unknown_keys(config, _CONFIG_KEYS, errors)
        url = config_checks.http_url(config, "url", "", errors) if config.get("url") else ""
        if not url and "config.url" not in errors:
            errors["config.url"] = "required (the endpoint's https URL)"
        secret = config.get("secret")
        if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
            errors["config.secret"] = "required: a whsec_ secret (whsec_ + base64 of 24 to 64 random bytes)"
        else:
            try:
                length = len(secret_key(secret))
            except (binascii.Error, ValueError):
                errors["config.secret"] = "the part after whsec_ is not base64"
            else:
                if not 24 <= length <= 64:
                    errors["config.secret"] = f"the key is {length} bytes; Standard Webhooks asks for 24 to 64"
        if errors:
            raise ConfigError(errors)
        return {"url": url, "secret": secret}

    @classmethod
    def form_fields(cls) -> dict[str, forms.Field]:
        return {
            "url": forms.URLField(
                label="Endpoint URL",
                assume_scheme="https",
                help_text="Where each batch of membership changes is POSTed (use https outside the sandbox).",
            ),
            "secret": config_fields.secret("Signing secret", "A whsec_ secret shared with the receiver."),
        }

    # --- operations ----------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            identifier_types=("external_id", "email"),
            batch_size=BATCH_SIZE,
            supports_removal=True,
            hashes_identifiers=True,
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow:
        """The profile key (external id, else ``profile:<id>``), the external id and the email's SHA-256."""
        external_id = normalise.normalise_external_id(raw.external_id)
        values = {"profile_key": external_id or f"profile:{raw.profile_id}"}
        if external_id:
            values["external_id"] = external_id
        email = normalise.hashed_email(raw.email)
        if email:
            values["email_sha256"] = email
        return PreparedRow(profile_id=raw.profile_id, values=values)

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """A webhook has no audience object: the payload carries the audience slug."""
        if remote_id:
            return remote_id
        return self.context.audience_slug if self.context is not None else name

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._deliver("add", rows=rows, batch_id=batch_id)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._deliver("remove", rows=rows, batch_id=batch_id)

    def match_stats(self, *, remote_id: str) -> MatchStats:
        return MatchStats(matched=None)

    def test_connection(self) -> str:
        """Deliver a signed ``audience.test`` message with no changes."""
        payload = {"type": "audience.test", "timestamp": _now(), "data": {"changes": []}}
        self._post(payload, msg_id=f"msg_test_{int(time.time())}")
        return f"The endpoint {self.config['url']} accepted a signed test message."

    # --- payloads ------------------------------------------------------------------------------------

    def payload(self, op: str, rows: Sequence[PreparedRow]) -> dict[str, Any]:
        context = self.context
        audience = (
            {
                "slug": context.audience_slug,
                "name": context.audience_name,
                "kind": context.audience_kind,
                "intent": context.intent,
                "offer": context.offer,
                "version": context.version,
            }
            if context
            else {}
        )
        changes = [{"change": CHANGES[op], **row.values} for row in rows]
        return {
            "type": EVENT_TYPE,
            "timestamp": _now(),
            "data": {
                "audience": audience,
                "run_id": context.run_id if context else None,
                "sync_id": context.sync_id if context else None,
                "as_of": context.as_of if context else None,
                "changes": changes,
            },
        }

    def _deliver(self, op: str, *, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        self.check_batch(rows)
        # The id must not contain "."; it stays the same when the engine retries this batch.
        msg_id = "msg_" + batch_id.replace(".", "_")
        self._post(self.payload(op, rows), msg_id=msg_id)
        return BatchResult(received=len(rows), invalid=0, row_errors=(), response={"webhook_id": msg_id})

    # --- HTTP ----------------------------------------------------------------------------------------

    def _post(self, payload: dict[str, Any], *, msg_id: str) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self.config["secret"], msg_id, timestamp, body),
        }
        response = http.call(
            self.session,
            "POST",
            self.config["url"],
            who="The webhook endpoint",
            data=body,
            headers=headers,
            timeout=self.timeout,
            allow_redirects=False,
        )
        status = response.status_code
        if 200 <= status < 300:
            return
        message = f"The webhook endpoint answered HTTP {status} {response.reason or ''}".strip()
        detail = (response.text or "").strip()[:300]
        if detail:
            message = f"{message}: {detail}"
        if status == 410:
            self.endpoint_gone(message)
            raise PermanentError(f"{message} (the destination was disabled)", code="410")
        raise http.status_error(response, message, retry_after=http.retry_after(response))

    def endpoint_gone(self, message: str) -> None:
        """410 Gone: disable the destination (no sync sends to it any more) and raise a critical alert."""
        from audience_ops.destinations.services import destination_update

        destination = self.destination
        if destination.pk is None:
            return
        destination_update(actor=None, destination=destination, enabled=False)
        try:
            from audience_ops.monitoring.choices import AlertKind, AlertSeverity
            from audience_ops.monitoring.services import Subject, alert_raise
        except ImportError:  # monitoring not installed: the disabled destination and the failed run remain
            logger.warning("webhook destination %s disabled after HTTP 410: %s", destination.pk, message)
            return
        alert_raise(
            kind=AlertKind.FAILING_SYNC,
            subject=Subject.for_destination(destination),
            message=f"The webhook endpoint of {destination.name} is gone (HTTP 410): the destination was disabled.",
            severity=AlertSeverity.CRITICAL,
            details={"url": self.config["url"], "response": message[:300]},
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()

"""Google Customer Match through the Data Manager API (the path Google recommends since 2026).

Contract (``https://datamanager.googleapis.com/v1``, OAuth bearer token, no developer token):
``POST /audienceMembers:ingest`` and ``POST /audienceMembers:remove`` take at most 10,000 audience members
for one destination (operating account + user list id) and answer only ``{"requestId"}``: the work is
asynchronous, so the adapter polls ``GET /requestStatus:retrieve?requestId=`` (bounded by
``GOOGLE_STATUS_POLL_TIMEOUT`` seconds) and a batch counts only what Google says it accepted
(``SUCCESS``, or ``PARTIAL_SUCCESS`` minus the failed records). Still processing at the deadline is a
:class:`TransientError`: the batch is sent again, which is harmless (adding a member twice is a no-op).

Consent (EEA Digital Markets Act): each member carries ``consent.adUserData`` and
``consent.adPersonalization`` read from two profile traits (``consent_traits``). Google does not process
members without both granted, so such a member is never sent: :meth:`prepare` returns its row with a
``skip_reason`` and the run counts it. Removals carry no consent (none is needed to forget someone).

Errors are Google's JSON ``{"error": {"code", "message", "status", "details"}}``: HTTP 429
``RESOURCE_EXHAUSTED``, 5xx, ``UNAVAILABLE`` and ``DEADLINE_EXCEEDED`` are transient (``Retry-After`` or
the ``RetryInfo`` detail honoured); everything else (401, 403, 400 ``INVALID_ARGUMENT``, ...) is permanent.

Normalisation per Data Manager's formatting guide: email trimmed and lowercased, and on gmail.com /
googlemail.com only every "." and any "+suffix" of the local part removed; phone E.164 with "+"; SHA-256
as lowercase hex, sent with ``encoding: HEX``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests
from django import forms
from django.conf import settings

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
    TransientError,
    split_skipped,
)

DEFAULT_BASE_URL = "https://datamanager.googleapis.com/v1"
BATCH_SIZE = 10_000
IDENTIFIER_FIELDS: dict[str, str] = {"email": "emailAddress", "phone": "phoneNumber"}
IDENTIFIERS = tuple(IDENTIFIER_FIELDS)
CONSENT_KINDS: dict[str, str] = {"ad_user_data": "adUserData", "ad_personalization": "adPersonalization"}
DEFAULT_CONSENT_TRAITS: dict[str, str] = {
    "ad_user_data": "consent_ad_user_data",
    "ad_personalization": "consent_ad_personalization",
}
# Trait values read as granted / denied (case-insensitive for text); anything else is "not given".
GRANTED_VALUES = frozenset({"granted", "consent_granted", "true", "yes", "y", "1"})
DENIED_VALUES = frozenset({"denied", "consent_denied", "false", "no", "n", "0"})
TRANSIENT_STATUSES = frozenset({"RESOURCE_EXHAUSTED", "UNAVAILABLE", "DEADLINE_EXCEEDED", "INTERNAL", "ABORTED"})
TRANSIENT_REASONS = frozenset({"INTERNAL_ERROR", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"})
PENDING_STATES = frozenset({"PROCESSING", "REQUEST_STATUS_UNKNOWN", "REQUEST_STATUS_UNSPECIFIED", ""})
DEFAULT_POLL_TIMEOUT = 120.0
DEFAULT_POLL_INTERVAL = 1.0
MAX_POLL_INTERVAL = 15.0
_RETRY_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")
_CONFIG_KEYS = (
    "base_url",
    "operating_account_id",
    "user_list_id",
    "access_token",
    "identifiers",
    "phone_region",
    "consent_traits",
)


def consent_value(value: Any) -> str:
    """A trait value as Data Manager's ConsentStatus: ``CONSENT_GRANTED``, ``CONSENT_DENIED`` or
    ``CONSENT_STATUS_UNSPECIFIED`` (missing, null, or anything not clearly a yes or a no)."""
    if isinstance(value, bool):
        return "CONSENT_GRANTED" if value else "CONSENT_DENIED"
    text = str(value).strip().lower() if isinstance(value, (str, int)) else ""
    if text in GRANTED_VALUES:
        return "CONSENT_GRANTED"
    if text in DENIED_VALUES:
        return "CONSENT_DENIED"
    return "CONSENT_STATUS_UNSPECIFIED"


class ConsentTraitsWidget(forms.MultiWidget):
    def __init__(self) -> None:
        super().__init__([forms.TextInput(attrs={"placeholder": name}) for name in DEFAULT_CONSENT_TRAITS.values()])

    def decompress(self, value: Any) -> list[str | None]:
        if isinstance(value, dict):
            return [value.get(kind) for kind in CONSENT_KINDS]
        return [None, None]


class ConsentTraitsField(forms.MultiValueField):
    """Two trait names (ad_user_data, ad_personalization) edited side by side, cleaned into one dict."""

    widget = ConsentTraitsWidget

    def __init__(self, **kwargs: Any) -> None:
        fields = (forms.CharField(max_length=200, required=False), forms.CharField(max_length=200, required=False))
        super().__init__(fields=fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list: list[str]) -> dict[str, str] | None:
        if not data_list:
            return None
        names = {kind: (name or "").strip() for kind, name in zip(CONSENT_KINDS, data_list, strict=False)}
        return {kind: names.get(kind) or DEFAULT_CONSENT_TRAITS[kind] for kind in CONSENT_KINDS}


class GoogleCustomerMatchAdapter(Adapter):
    """One Customer Match user list of one Google Ads account, through the Data Manager API."""

    kind: ClassVar[str] = "google_customer_match"
    label: ClassVar[str] = "Google Customer Match"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"access_token"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_upload_match_rate_range: str | None = None

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the config keys and fill in defaults; each error names its key."""
        errors: dict[str, str] = {}
        config_checks.unknown_keys(config, _CONFIG_KEYS, errors)
        cleaned = {
            "base_url": config_checks.http_url(config, "base_url", DEFAULT_BASE_URL, errors),
            "operating_account_id": config_checks.digits_id(
                config, "operating_account_id", "the Google Ads customer id, e.g. 123-456-7890", errors
            ),
            "user_list_id": config_checks.digits_id(
                config, "user_list_id", "the numeric id of a Customer Match user list", errors
            ),
            "access_token": config_checks.required_text(
                config, "access_token", "an OAuth access token with the datamanager scope", errors
            ),
            "identifiers": config_checks.identifier_list(config, IDENTIFIERS, IDENTIFIERS, errors),
            "phone_region": config_checks.phone_region(config, errors),
            "consent_traits": _consent_traits(config.get("consent_traits"), errors),
        }
        if errors:
            raise ConfigError(errors)
        return cleaned

    @classmethod
    def form_fields(cls) -> dict[str, forms.Field]:
        """The config as form fields, for the destination form (the token renders as a password input)."""
        return {
            "operating_account_id": forms.CharField(
                label="Google Ads customer id", help_text="The account that owns the user list, e.g. 123-456-7890."
            ),
            "user_list_id": forms.CharField(
                label="User list id",
                help_text="The Customer Match user list this destination keeps up to date (one list per destination).",
            ),
            "access_token": config_fields.secret("Access token", "An OAuth access token with the datamanager scope."),
            "identifiers": config_fields.identifiers(
                IDENTIFIERS, initial=IDENTIFIERS, help_text="Which profile identifiers Google receives, SHA-256 hashed."
            ),
            "phone_region": config_fields.phone_region(),
            "consent_traits": ConsentTraitsField(
                label="Consent traits (ad user data, ad personalization)",
                initial=dict(DEFAULT_CONSENT_TRAITS),
                help_text="The profile traits holding each consent. A profile is sent only when both are "
                "granted (true, 'granted', 'yes'); others are counted as 'no consent'.",
            ),
            "base_url": config_fields.base_url(
                DEFAULT_BASE_URL,
                "The Data Manager API root including the version; the sandbox's /google URL for the demo.",
            ),
        }

    # --- operations ----------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            identifier_types=tuple(self.config["identifiers"]),
            batch_size=BATCH_SIZE,
            supports_removal=True,
            hashes_identifiers=True,
            needs_traits=True,
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow | None:
        """Data Manager's normalisation; None when no identifier is usable; a ``skip_reason`` without consent."""
        values: dict[str, str] = {}
        for identifier in self.config["identifiers"]:
            if identifier == "email":
                value = normalise.hashed_email(raw.email, remove_gmail_dots=True, remove_plus_suffix=True)
            else:
                value = normalise.hashed_phone(raw.phone, default_region=self.config["phone_region"], with_plus=True)
            if value:
                values[identifier] = value
        if not values:
            return None
        consent = self.consent_of(raw.traits)
        missing = [kind for kind, status in consent.items() if status != "CONSENT_GRANTED"]
        if missing:
            described = ", ".join(
                f"{kind} {'denied' if consent[kind] == 'CONSENT_DENIED' else 'not given'}" for kind in missing
            )
            return PreparedRow(profile_id=raw.profile_id, values=values, skip_reason=f"no consent ({described})")
        return PreparedRow(profile_id=raw.profile_id, values=values)

    def consent_of(self, traits: Mapping[str, Any] | None) -> dict[str, str]:
        """ad_user_data / ad_personalization -> ConsentStatus, from the configured traits."""
        traits = traits or {}
        return {kind: consent_value(traits.get(name)) for kind, name in self.config["consent_traits"].items()}

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """The configured user list: Customer Match lists are created in Google Ads, one per destination."""
        return remote_id or self.config["user_list_id"]

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._send("ingest", remote_id=remote_id, rows=rows)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._send("remove", remote_id=remote_id, rows=rows)

    def match_stats(self, *, remote_id: str) -> MatchStats:
        """Data Manager reports no list size, only a match-rate range per upload: no matched count."""
        detail = {}
        if self.last_upload_match_rate_range:
            detail["upload_match_rate_range"] = self.last_upload_match_rate_range
        return MatchStats(matched=None, detail=detail)

    def test_connection(self) -> str:
        """A ``validateOnly`` ingest of one dummy member: checks token, account, list and terms, changes nothing."""
        member = {
            "userData": {"userIdentifiers": [{"emailAddress": normalise.sha256_hex("connection-test@example.com")}]},
            "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
        }
        self._call("POST", "audienceMembers:ingest", json_body=self._body([member], ingest=True, validate_only=True))
        return (
            f"Connected: Google accepts uploads to user list {self.config['user_list_id']} "
            f"of account {self.config['operating_account_id']}."
        )

    # --- payloads ------------------------------------------------------------------------------------

    def destination_ref(self, remote_id: str | None = None) -> dict[str, Any]:
        return {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": self.config["operating_account_id"]},
            "productDestinationId": remote_id or self.config["user_list_id"],
        }

    def member(self, row: PreparedRow, *, with_consent: bool) -> dict[str, Any]:
        """One AudienceMember: a userIdentifier per hashed value; consent granted (only consenting rows get here)."""
        identifiers = [
            {IDENTIFIER_FIELDS[identifier]: row.values[identifier]}
            for identifier in IDENTIFIERS
            if identifier in row.values
        ]
        member: dict[str, Any] = {"userData": {"userIdentifiers": identifiers}}
        if with_consent:
            member["consent"] = {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"}
        return member

    def _body(
        self,
        members: list[dict[str, Any]],
        *,
        ingest: bool,
        remote_id: str | None = None,
        validate_only: bool = False,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "destinations": [self.destination_ref(remote_id)],
            "audienceMembers": members,
            "encoding": "HEX",
        }
        if ingest:
            body["termsOfService"] = {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
        if validate_only:
            body["validateOnly"] = True
        return body

    def _send(self, method: str, *, remote_id: str, rows: Sequence[PreparedRow]) -> BatchResult:
        self.check_batch(rows)
        sendable, skipped = split_skipped(rows)
        if not sendable:
            return BatchResult(received=0, invalid=0, row_errors=skipped, response={})
        ingest = method == "ingest"
        members = [self.member(row, with_consent=ingest) for row in sendable]
        answer = self._call(
            "POST", f"audienceMembers:{method}", json_body=self._body(members, ingest=ingest, remote_id=remote_id)
        )
        request_id = answer.get("requestId")
        if not request_id:
            raise PermanentError("Google returned no requestId for the upload", response=answer)
        status = self.wait_for_status(str(request_id))
        return self._result(status, request_id=str(request_id), sent=len(sendable), ingest=ingest, skipped=skipped)

    def wait_for_status(self, request_id: str) -> dict[str, Any]:
        """Poll ``requestStatus:retrieve`` until the destination's status is final, at most
        ``GOOGLE_STATUS_POLL_TIMEOUT`` seconds (the interval doubles from ``GOOGLE_STATUS_POLL_INTERVAL``)."""
        timeout = float(getattr(settings, "GOOGLE_STATUS_POLL_TIMEOUT", DEFAULT_POLL_TIMEOUT))
        interval = float(getattr(settings, "GOOGLE_STATUS_POLL_INTERVAL", DEFAULT_POLL_INTERVAL))
        deadline = time.monotonic() + timeout
        while True:
            body = self._call("GET", "requestStatus:retrieve", params={"requestId": request_id})
            statuses = body.get("requestStatusPerDestination") or []
            status = statuses[0] if statuses and isinstance(statuses[0], dict) else {}
            if str(status.get("requestStatus") or "") not in PENDING_STATES:
                return status
            left = deadline - time.monotonic()
            if left <= 0:
                raise TransientError(
                    f"Google was still processing request {request_id} after {timeout:g}s",
                    code="PROCESSING",
                    response=status,
                )
            time.sleep(min(interval, left))
            interval = min(interval * 2, MAX_POLL_INTERVAL)

    def _result(
        self,
        status: dict[str, Any],
        *,
        request_id: str,
        sent: int,
        ingest: bool,
        skipped: tuple,
    ) -> BatchResult:
        state = str(status.get("requestStatus"))
        errors = {
            str(entry.get("reason") or "UNKNOWN"): http.as_int(entry.get("recordCount"))
            for entry in (status.get("errorInfo") or {}).get("errorCounts") or []
            if isinstance(entry, dict)
        }
        summary = {"requestId": request_id, **status}
        if state == "FAILED":
            described = ", ".join(f"{reason} ({count})" for reason, count in errors.items()) or "no reason given"
            message = f"Google failed request {request_id}: {described}"
            if set(errors) & TRANSIENT_REASONS:
                raise TransientError(message, code="FAILED", response=summary)
            raise PermanentError(message, code="FAILED", response=summary)
        if ingest:
            counts = (status.get("audienceMembersIngestionStatus") or {}).get("userDataIngestionStatus") or {}
            self.last_upload_match_rate_range = counts.get("uploadMatchRateRange") or self.last_upload_match_rate_range
        else:
            counts = (status.get("audienceMembersRemovalStatus") or {}).get("userDataRemovalStatus") or {}
        received = http.as_int(counts.get("recordCount"), default=sent)
        invalid = min(received, sum(errors.values())) if state == "PARTIAL_SUCCESS" else 0
        return BatchResult(received=received, invalid=invalid, row_errors=skipped, response=summary)

    # --- HTTP ----------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Data Manager call with a bearer token; the parsed body, or a Transient/PermanentError."""
        url = f"{self.config['base_url']}/{path}"
        headers = {"Authorization": f"Bearer {self.config['access_token']}"}
        response = http.call(
            self.session,
            method,
            url,
            who="Google",
            secret=self.config["access_token"],
            params=params,
            json=json_body,
            headers=headers,
            timeout=self.timeout,
        )
        return self._parse(response)

    @staticmethod
    def _parse(response: requests.Response) -> dict[str, Any]:
        body = http.json_object(response)
        if response.ok:
            return body
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        status = str(error.get("status") or "")
        message = str(error.get("message") or f"Google answered HTTP {response.status_code}")
        reasons = [
            str(detail.get("reason"))
            for detail in error.get("details") or []
            if isinstance(detail, dict) and detail.get("reason")
        ]
        if reasons:
            message = f"{message} ({', '.join(reasons)})"
        code = status or str(response.status_code)
        if response.status_code == 429 or response.status_code >= 500 or status in TRANSIENT_STATUSES:
            raise TransientError(message, code=code, response=body, retry_after=_retry_after(response, error))
        raise PermanentError(message, code=code, response=body)


def _consent_traits(value: Any, errors: dict[str, str]) -> dict[str, str]:
    """``{"ad_user_data": trait, "ad_personalization": trait}``; a missing one takes its default name."""
    if value is None:
        return dict(DEFAULT_CONSENT_TRAITS)
    if not isinstance(value, dict):
        errors["config.consent_traits"] = 'an object {"ad_user_data": "<trait>", "ad_personalization": "<trait>"}'
        return dict(DEFAULT_CONSENT_TRAITS)
    cleaned = dict(DEFAULT_CONSENT_TRAITS)
    for key, name in value.items():
        if key not in CONSENT_KINDS:
            errors[f"config.consent_traits.{key}"] = f"unknown consent (known: {', '.join(CONSENT_KINDS)})"
        elif not isinstance(name, str) or not name.strip():
            errors[f"config.consent_traits.{key}"] = "a trait name is required"
        else:
            cleaned[key] = name.strip()
    return cleaned


def _retry_after(response: requests.Response, error: Mapping[str, Any]) -> float | None:
    """Seconds to wait: the ``Retry-After`` header, else a ``google.rpc.RetryInfo`` ``retryDelay`` ("30s")."""
    seconds = http.retry_after(response)
    if seconds is not None:
        return seconds
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _RETRY_DELAY.match(str(detail.get("retryDelay") or ""))
            if match:
                return float(match.group(1))
    return None

"""Meta (Facebook) Marketing API: Customer File Custom Audiences.

Contract (Graph API): ``POST /act_{ad_account}/customaudiences`` creates a customer-file audience,
``POST /{audience}/users`` adds and ``DELETE /{audience}/users`` removes at most 10,000 rows per request,
``GET /{audience}`` reports approximate counts. Identifiers are normalised and hashed per Meta's table:
email trimmed + lowercased, phone as digits with country code and no "+", both SHA-256 hex;
``EXTERN_ID`` is sent unhashed, exactly as stored (trimmed).

Errors come back as a JSON envelope ``{"error": {"code", "message", ...}}`` whose *code*, not the HTTP
status, says what happened: 4, 17, 613, 80003 and 80004 are rate limits (retry later), as is anything
flagged ``is_transient`` or any 5xx; every other error (190 invalid token, 100 bad parameter, 200
permissions, ...) is permanent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import requests
from django import forms

from .. import normalise
from . import config_checks, config_fields, http
from .base import (
    IDENTIFIER_TYPES,
    Adapter,
    BatchResult,
    Capabilities,
    ConfigError,
    MatchStats,
    PermanentError,
    PreparedRow,
    RawIdentifiers,
    RowError,
    TransientError,
)

DEFAULT_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
BATCH_SIZE = 10_000
# Graph API error codes that mean "slow down", not "this request is wrong".
RATE_LIMIT_CODES = frozenset({4, 17, 613, 80003, 80004})
# Identifier type -> multi-key schema column; the order of this mapping is the column order sent.
MULTI_KEY_COLUMNS: dict[str, str] = {"external_id": "EXTERN_ID", "email": "EMAIL", "phone": "PHONE"}
# Identifier type -> single-key schema, for a destination that receives only that identifier.
SINGLE_KEY_SCHEMAS: dict[str, str] = {"email": "EMAIL_SHA256", "phone": "PHONE_SHA256"}
_API_VERSION = re.compile(r"^v\d+\.\d+$")
_AD_ACCOUNT = re.compile(r"^(?:act_)?(\d+)$")
_CONFIG_KEYS = ("base_url", "api_version", "ad_account_id", "access_token", "identifiers", "phone_region")


class MetaCustomAudienceAdapter(Adapter):
    """Customer-file custom audiences of one Meta ad account."""

    kind: ClassVar[str] = "meta_custom_audience"
    label: ClassVar[str] = "Meta Custom Audience"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"access_token"})

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the config keys and fill in defaults; each error names its key."""
        errors: dict[str, str] = {}
        config_checks.unknown_keys(config, _CONFIG_KEYS, errors)
        base_url = config_checks.http_url(config, "base_url", DEFAULT_BASE_URL, errors)
        api_version = config.get("api_version") or DEFAULT_API_VERSION
        if not isinstance(api_version, str) or not _API_VERSION.match(api_version):
            errors["config.api_version"] = f"{api_version!r} is not a Graph API version such as {DEFAULT_API_VERSION}"

        ad_account_id = str(config.get("ad_account_id") or "").strip()
        match = _AD_ACCOUNT.match(ad_account_id)
        if not ad_account_id:
            errors["config.ad_account_id"] = "required (the ad account's numeric id, with or without act_)"
        elif match is None:
            errors["config.ad_account_id"] = f'"{ad_account_id}" is not an ad account id (digits, optionally act_)'

        cleaned = {
            "base_url": base_url,
            "api_version": api_version,
            "ad_account_id": match.group(1) if match else ad_account_id,
            "access_token": config_checks.required_text(
                config, "access_token", "a system-user access token with ads_management", errors
            ),
            "identifiers": config_checks.identifier_list(config, IDENTIFIER_TYPES, ("email", "phone"), errors),
            "phone_region": config_checks.phone_region(config, errors),
        }
        if errors:
            raise ConfigError(errors)
        return cleaned

    @classmethod
    def form_fields(cls) -> dict[str, forms.Field]:
        """The config as form fields, for the destination form (secret keys render as password inputs)."""
        return {
            "ad_account_id": forms.CharField(
                label="Ad account id",
                help_text="The numeric id of the ad account, with or without act_.",
            ),
            "access_token": config_fields.secret("Access token", "A system-user token with ads_management."),
            "identifiers": config_fields.identifiers(
                IDENTIFIER_TYPES,
                initial=["email", "phone"],
                help_text="Which profile identifiers Meta receives. Email and phone are hashed; external id is not.",
            ),
            "phone_region": config_fields.phone_region(),
            "api_version": forms.CharField(
                label="Graph API version",
                initial=DEFAULT_API_VERSION,
                help_text="e.g. v25.0.",
            ),
            "base_url": config_fields.base_url(
                DEFAULT_BASE_URL, "The Graph API host; the sandbox's /meta URL for the demo and tests."
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
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow | None:
        """Meta's normalisation of the mapped identifiers; None when none of them is usable."""
        values: dict[str, str] = {}
        for identifier in self.config["identifiers"]:
            if identifier == "email":
                value = normalise.hashed_email(raw.email)
            elif identifier == "phone":
                value = normalise.hashed_phone(raw.phone, default_region=self.config["phone_region"], with_plus=False)
            else:
                value = normalise.normalise_external_id(raw.external_id)
            if value:
                values[identifier] = value
        return PreparedRow(profile_id=raw.profile_id, values=values) if values else None

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """Create a customer-file custom audience (user-provided data) unless ``remote_id`` names one."""
        if remote_id:
            return remote_id
        body = self._call(
            "POST",
            f"act_{self.config['ad_account_id']}/customaudiences",
            data={
                "name": name,
                "subtype": "CUSTOM",
                "description": description,
                "customer_file_source": "USER_PROVIDED_ONLY",
            },
        )
        audience_id = body.get("id")
        if not audience_id:
            raise PermanentError("Meta created no audience: the response has no id", response=body)
        return str(audience_id)

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._send_users("POST", remote_id=remote_id, rows=rows, batch_id=batch_id)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._send_users("DELETE", remote_id=remote_id, rows=rows, batch_id=batch_id)

    def match_stats(self, *, remote_id: str) -> MatchStats:
        """Meta's approximate audience size (a lower and an upper bound); the lower bound counts as matched."""
        body = self._call(
            "GET",
            remote_id,
            params={"fields": "id,approximate_count_lower_bound,approximate_count_upper_bound,operation_status"},
        )
        lower = body.get("approximate_count_lower_bound")
        matched = lower if isinstance(lower, int) and lower >= 0 else None
        detail = {
            key: body[key]
            for key in ("approximate_count_lower_bound", "approximate_count_upper_bound", "operation_status")
            if key in body
        }
        return MatchStats(matched=matched, detail=detail)

    can_delete_audience = True

    def delete_audience(self, *, remote_id: str) -> None:
        """``DELETE /{audience_id}``: the custom audience and everyone in it are gone from the ad account."""
        self._call("DELETE", remote_id)

    def test_connection(self) -> str:
        """Read the ad account: proves the token is valid and can see that account."""
        body = self._call("GET", f"act_{self.config['ad_account_id']}", params={"fields": "id,name,account_status"})
        name = body.get("name") or body.get("id") or f"act_{self.config['ad_account_id']}"
        return f"Connected to ad account {name} ({body.get('id', 'act_' + self.config['ad_account_id'])})."

    # --- payloads ------------------------------------------------------------------------------------

    def schema(self) -> str | list[str]:
        """Single-key schema for one hashed identifier, otherwise multi-key columns in a fixed order."""
        identifiers = self.config["identifiers"]
        if len(identifiers) == 1 and identifiers[0] in SINGLE_KEY_SCHEMAS:
            return SINGLE_KEY_SCHEMAS[identifiers[0]]
        return [MULTI_KEY_COLUMNS[identifier] for identifier in MULTI_KEY_COLUMNS if identifier in identifiers]

    def payload(self, rows: Sequence[PreparedRow]) -> dict[str, Any]:
        """The ``payload`` parameter: schema plus data rows in schema order ("" for an unknown value)."""
        schema = self.schema()
        if isinstance(schema, str):
            identifier = next(key for key, value in SINGLE_KEY_SCHEMAS.items() if value == schema)
            return {"schema": schema, "is_raw": False, "data": [row.values[identifier] for row in rows]}
        identifiers = [identifier for identifier in MULTI_KEY_COLUMNS if identifier in self.config["identifiers"]]
        data = [[row.values.get(identifier, "") for identifier in identifiers] for row in rows]
        return {"schema": schema, "is_raw": True, "data": data}

    @staticmethod
    def session_for(batch_id: str, rows: int) -> dict[str, Any]:
        """One session per batch: a positive 63-bit id derived from ``batch_id``, so a resent batch carries
        the same session id; it is the first and last batch of its session."""
        session_id = int(normalise.sha256_hex(batch_id)[:15], 16) or 1
        return {"session_id": session_id, "batch_seq": 1, "last_batch_flag": True, "estimated_num_total": rows}

    def _send_users(self, method: str, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        self.check_batch(rows)
        if isinstance(self.schema(), str):
            identifier = self.config["identifiers"][0]
            missing = [row.profile_id for row in rows if identifier not in row.values]
            if missing:
                raise ValueError(f"rows without {identifier} cannot be sent with a single-key schema: {missing[:5]}")
        body = self._call(
            method,
            f"{remote_id}/users",
            data={
                "payload": json.dumps(self.payload(rows), separators=(",", ":")),
                "session": json.dumps(self.session_for(batch_id, len(rows)), separators=(",", ":")),
            },
        )
        return BatchResult(
            received=http.as_int(body.get("num_received"), default=len(rows)),
            invalid=http.as_int(body.get("num_invalid_entries"), default=0),
            row_errors=self._row_errors(rows, body.get("invalid_entry_samples")),
            response=body,
        )

    @staticmethod
    def _row_errors(rows: Sequence[PreparedRow], samples: Any) -> tuple[RowError, ...]:
        """Map Meta's invalid entry samples (a list of values, or a map value -> reason) back to profiles."""
        if not samples:
            return ()
        reasons: dict[str, str] = (
            {str(key): str(value) for key, value in samples.items()}
            if isinstance(samples, dict)
            else {str(sample): "" for sample in samples}
        )
        by_value: dict[str, list[int]] = {}
        for row in rows:
            for value in row.values.values():
                by_value.setdefault(value, []).append(row.profile_id)
        errors: dict[int, str] = {}
        for value, reason in reasons.items():
            for profile_id in by_value.get(value, ()):
                message = f"Meta rejected {value[:12]}… as invalid" + (f": {reason}" if reason else "")
                errors.setdefault(profile_id, message)
        return tuple(RowError(profile_id=profile_id, message=message) for profile_id, message in errors.items())

    # --- HTTP ----------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Graph API call with explicit timeouts; the parsed body, or a Transient/PermanentError."""
        url = f"{self.config['base_url']}/{self.config['api_version']}/{path}"
        token = self.config["access_token"]
        if method == "GET":
            params = {**(params or {}), "access_token": token}
        else:
            data = {**(data or {}), "access_token": token}
        # A GET carries the token in the URL: ``secret`` keeps it out of a transport error's message.
        response = http.call(
            self.session, method, url, who="Meta", secret=token, params=params, data=data, timeout=self.timeout
        )
        return self._parse(response)

    @staticmethod
    def _parse(response: requests.Response) -> dict[str, Any]:
        body = http.json_object(response)
        error = body.get("error")
        if response.ok and not error:
            return body
        retry_after = _retry_after(response)
        if not isinstance(error, dict):
            message = f"Meta answered HTTP {response.status_code} {response.reason or ''}".strip()
            raise http.status_error(response, message, retry_after=retry_after, body=body)
        code = error.get("code")
        subcode = error.get("error_subcode")
        message = str(error.get("error_user_msg") or error.get("message") or f"HTTP {response.status_code}")
        code_text = str(code) if code is not None else None
        if subcode:
            message = f"{message} (subcode {subcode})"
        if code in RATE_LIMIT_CODES or error.get("is_transient") is True or response.status_code >= 500:
            raise TransientError(message, code=code_text, response=body, retry_after=retry_after)
        raise PermanentError(message, code=code_text, response=body)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds to wait, from ``Retry-After`` or Meta's ``X-Business-Use-Case-Usage`` (minutes to regain access)."""
    seconds = http.retry_after(response)
    if seconds is not None:
        return seconds
    usage = response.headers.get("X-Business-Use-Case-Usage")
    if usage:
        try:
            accounts = json.loads(usage)
            minutes = max(
                float(entry.get("estimated_time_to_regain_access") or 0)
                for entries in accounts.values()
                for entry in entries
            )
        except (ValueError, TypeError, AttributeError):
            return None
        return minutes * 60 if minutes > 0 else None
    return None

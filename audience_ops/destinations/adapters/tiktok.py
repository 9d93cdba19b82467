"""TikTok audiences through the Business API's segment endpoints (per-user add and delete).

Contract (Business API v1.3, ``Access-Token`` header): ``POST /segment/audience/`` with
``action=create`` creates an audience and answers ``data.audience_id``; ``POST /segment/mapping/`` with
``action=add|delete``, an ``id_schema`` (``EMAIL_SHA256``, ``PHONE_SHA256``) and ``batch_data`` rows aligned
with it (``{"id": hash, "audience_ids": [...]}`` per column, ``{}`` for a value the profile lacks) adds or
removes members.

Every answer is an envelope ``{"code", "message", "request_id", "data"}``: ``code != 0`` is a failure even
on HTTP 200. The rate-limit code (40100, unconfirmed, so ``TIKTOK_RATE_LIMIT_CODES`` can extend it) and
5xx are transient; any other code is permanent with TikTok's message.

Normalisation per TikTok's help centre: email trimmed and lowercased (dot and ``+tag`` removal on every
domain only when ``email_strip_dots_and_tags`` is on), phone E.164 *with* ``+``, both SHA-256 hex.
"""

from __future__ import annotations

import json
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

DEFAULT_BASE_URL = "https://business-api.tiktok.com/open_api/v1.3"
# The public docs give no maximum for /segment/mapping/; partner connectors send at most 1,000 rows.
DEFAULT_BATCH_SIZE = 1_000
DEFAULT_RATE_LIMIT_CODES = frozenset({40100})
ID_SCHEMAS: dict[str, str] = {"email": "EMAIL_SHA256", "phone": "PHONE_SHA256"}
IDENTIFIERS = tuple(ID_SCHEMAS)
MAX_NAME_LENGTH = 128
_CONFIG_KEYS = (
    "base_url",
    "advertiser_id",
    "access_token",
    "identifiers",
    "phone_region",
    "email_strip_dots_and_tags",
)


def batch_size() -> int:
    """Rows per mapping call: ``TIKTOK_BATCH_SIZE`` (TikTok documents no limit; 1,000 by default)."""
    return int(getattr(settings, "TIKTOK_BATCH_SIZE", DEFAULT_BATCH_SIZE))


def rate_limit_codes() -> frozenset[int]:
    """Envelope codes that mean "slow down": 40100 plus any in ``TIKTOK_RATE_LIMIT_CODES``."""
    return DEFAULT_RATE_LIMIT_CODES | frozenset(int(code) for code in getattr(settings, "TIKTOK_RATE_LIMIT_CODES", ()))


class TikTokAudienceAdapter(Adapter):
    """Custom audiences of one TikTok advertiser account, kept up to date with the segment API."""

    kind: ClassVar[str] = "tiktok_audience"
    label: ClassVar[str] = "TikTok Audience"
    secret_keys: ClassVar[frozenset[str]] = frozenset({"access_token"})

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """Validate the config keys and fill in defaults; each error names its key."""
        errors: dict[str, str] = {}
        config_checks.unknown_keys(config, _CONFIG_KEYS, errors)
        cleaned = {
            "base_url": config_checks.http_url(config, "base_url", DEFAULT_BASE_URL, errors),
            "advertiser_id": config_checks.digits_id(
                config, "advertiser_id", "the advertiser account's numeric id", errors
            ),
            "access_token": config_checks.required_text(
                config, "access_token", "a long-term Business API access token with audience scope", errors
            ),
            "identifiers": config_checks.identifier_list(config, IDENTIFIERS, IDENTIFIERS, errors),
            "phone_region": config_checks.phone_region(config, errors),
            "email_strip_dots_and_tags": config_checks.boolean(config, "email_strip_dots_and_tags", False, errors),
        }
        if errors:
            raise ConfigError(errors)
        return cleaned

    @classmethod
    def form_fields(cls) -> dict[str, forms.Field]:
        """The config as form fields, for the destination form (the token renders as a password input)."""
        return {
            "advertiser_id": forms.CharField(label="Advertiser id", help_text="The advertiser account's numeric id."),
            "access_token": config_fields.secret(
                "Access token", "A Business API access token with audience management."
            ),
            "identifiers": config_fields.identifiers(
                IDENTIFIERS,
                initial=IDENTIFIERS,
                help_text="Which profile identifiers TikTok receives, SHA-256 hashed. TikTok has no external id.",
            ),
            "phone_region": config_fields.phone_region(),
            "email_strip_dots_and_tags": forms.BooleanField(
                label="Strip dots and +tags from emails",
                required=False,
                initial=False,
                help_text="Remove every '.' and any '+tag' before the @, on every domain, as one version of "
                "TikTok's help text asks. Off by default: turning it on changes every email hash already sent.",
            ),
            "base_url": config_fields.base_url(
                DEFAULT_BASE_URL,
                "The Business API root including the version; the sandbox's /tiktok URL for the demo.",
            ),
        }

    # --- operations ----------------------------------------------------------------------------------

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            identifier_types=tuple(self.config["identifiers"]),
            batch_size=batch_size(),
            supports_removal=True,
            hashes_identifiers=True,
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow | None:
        """TikTok's normalisation of the mapped identifiers; None when none of them is usable."""
        values: dict[str, str] = {}
        strip = self.config["email_strip_dots_and_tags"]
        for identifier in self.config["identifiers"]:
            if identifier == "email":
                value = normalise.hashed_email(
                    raw.email, remove_gmail_dots=strip, remove_plus_suffix=strip, any_domain=strip
                )
            else:
                value = normalise.hashed_phone(raw.phone, default_region=self.config["phone_region"], with_plus=True)
            if value:
                values[identifier] = value
        return PreparedRow(profile_id=raw.profile_id, values=values) if values else None

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """Create a segment audience (TikTok keeps no description) unless ``remote_id`` names one."""
        if remote_id:
            return remote_id
        data = self._call(
            "POST",
            "segment/audience/",
            json_body={
                "advertiser_id": self.config["advertiser_id"],
                "custom_audience_name": name[:MAX_NAME_LENGTH],
                "action": "create",
            },
        )
        audience_id = data.get("audience_id")
        if not audience_id:
            raise PermanentError("TikTok created no audience: the response has no audience_id", response=data)
        return str(audience_id)

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._mapping("add", remote_id=remote_id, rows=rows)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._mapping("delete", remote_id=remote_id, rows=rows)

    can_delete_audience = True

    def delete_audience(self, *, remote_id: str) -> None:
        """``POST /dmp/custom_audience/delete/``: the audience is gone from the advertiser account."""
        self._call(
            "POST",
            "dmp/custom_audience/delete/",
            json_body={"advertiser_id": self.config["advertiser_id"], "custom_audience_ids": [remote_id]},
        )

    def match_stats(self, *, remote_id: str) -> MatchStats:
        """The audience's ``cover_num`` (TikTok's matched size; the real platform refreshes it within 24-48 h)."""
        data = self._call(
            "GET",
            "dmp/custom_audience/get/",
            params={
                "advertiser_id": self.config["advertiser_id"],
                "custom_audience_ids": json.dumps([remote_id]),
            },
        )
        entries = data.get("list") or []
        details: dict[str, Any] = {}
        if entries and isinstance(entries[0], dict):
            details = entries[0].get("audience_details") or entries[0]
        cover = details.get("cover_num")
        matched = cover if isinstance(cover, int) and cover >= 0 else None
        detail = {key: details[key] for key in ("cover_num", "is_valid", "is_expiring") if key in details}
        return MatchStats(matched=matched, detail=detail)

    def test_connection(self) -> str:
        """Read the advertiser account: proves the token is valid and may use that advertiser."""
        advertiser_id = self.config["advertiser_id"]
        data = self._call("GET", "advertiser/info/", params={"advertiser_ids": json.dumps([advertiser_id])})
        entries = data.get("list") or []
        if not entries:
            raise PermanentError(f"TikTok returned no advertiser {advertiser_id}: the token cannot use it")
        name = entries[0].get("name") or advertiser_id
        return f"Connected to TikTok advertiser {name} ({advertiser_id})."

    # --- payloads ------------------------------------------------------------------------------------

    def id_schema(self) -> list[str]:
        return [ID_SCHEMAS[identifier] for identifier in self.config["identifiers"]]

    def batch_data(self, rows: Sequence[PreparedRow], remote_id: str) -> list[list[dict[str, Any]]]:
        """One row per profile, one cell per ``id_schema`` column; ``{}`` where the profile has no value."""
        identifiers = self.config["identifiers"]
        return [
            [
                {"id": row.values[identifier], "audience_ids": [remote_id]} if identifier in row.values else {}
                for identifier in identifiers
            ]
            for row in rows
        ]

    def _mapping(self, action: str, *, remote_id: str, rows: Sequence[PreparedRow]) -> BatchResult:
        self.check_batch(rows)
        sendable, skipped = split_skipped(rows)
        if not sendable:
            return BatchResult(received=0, invalid=0, row_errors=skipped, response={})
        data = self._call(
            "POST",
            "segment/mapping/",
            json_body={
                "advertiser_ids": [self.config["advertiser_id"]],
                "action": action,
                "id_schema": self.id_schema(),
                "batch_data": self.batch_data(sendable, remote_id),
            },
        )
        # TikTok acknowledges a mapping call as a whole: no per-row counts, a bad row fails the request.
        return BatchResult(received=len(sendable), invalid=0, row_errors=skipped, response=data)

    # --- HTTP ----------------------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One Business API call; the envelope's ``data``, or a Transient/PermanentError."""
        url = f"{self.config['base_url']}/{path}"
        headers = {"Access-Token": self.config["access_token"]}
        response = http.call(
            self.session,
            method,
            url,
            who="TikTok",
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
        retry_after = http.retry_after(response)
        if "code" not in body:
            message = f"TikTok answered HTTP {response.status_code} {response.reason or ''}".strip()
            raise http.status_error(response, message, retry_after=retry_after)
        code = body.get("code")
        if response.ok and code == 0:
            data = body.get("data")
            return data if isinstance(data, dict) else {}
        message = str(body.get("message") or f"HTTP {response.status_code}")
        request_id = body.get("request_id")
        if request_id:
            message = f"{message} (request {request_id})"
        envelope = {key: body[key] for key in ("code", "message", "request_id") if key in body}
        if code in rate_limit_codes() or response.status_code >= 500 or response.status_code == 429:
            raise TransientError(message, code=str(code), response=envelope, retry_after=retry_after)
        raise PermanentError(message, code=str(code), response=envelope)

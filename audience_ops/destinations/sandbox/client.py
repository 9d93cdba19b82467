"""A small client for the sandbox's control endpoints, for tests and for checking the demo by hand.

It speaks HTTP, so it works the same against a sandbox in a test thread and one started by
``manage.py run_sandbox`` in another process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from . import google, meta, tiktok

_TIMEOUT = (2.0, 30.0)


class _ControlClient:
    """What every emulator's control client shares: a control prefix, the request log and plain knobs."""

    control_prefix: str = ""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.rstrip("/")
        self._control = self.server_url + self.control_prefix
        self._http = requests.Session()

    def request_log(self, *, ops: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every API call so far (method, path, op, rows, status, error; never a token), optionally of ``ops``."""
        wanted = set(ops) if ops is not None else None
        entries = self._get("/requests")["requests"]
        return [entry for entry in entries if wanted is None or entry["op"] in wanted]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        """The audience's (or list's) members, each as the platform's identifier key -> value."""
        raise NotImplementedError

    def member_values(self, audience_id: str, key: str) -> set[str]:
        """The values of one identifier key (Meta ``EMAIL``, TikTok ``EMAIL_SHA256``, Google ``emailAddress``,
        ...) among the members."""
        return {member[key] for member in self.members(audience_id) if key in member}

    def fail(self, n: int, *, status: int = 500, ops: Iterable[str] | None = None) -> None:
        """Answer the next ``n`` calls (of ``ops``, default all) with HTTP ``status``."""
        self._post("/fail", {"n": n, "status": status, "ops": list(ops or ())})

    def hang(self, n: int, seconds: float, *, ops: Iterable[str] | None = None) -> None:
        """Hold the next ``n`` calls for ``seconds`` before handling them (for timeout tests)."""
        self._post("/hang", {"n": n, "seconds": seconds, "ops": list(ops or ())})

    def reject_token(self) -> None:
        """Refuse every token until :meth:`accept_token` or :meth:`reset`."""
        self._post("/reject_token", {})

    def accept_token(self) -> None:
        self._post("/accept_token", {})

    def reset(self) -> None:
        """Forget every audience, knob and logged request."""
        self._post("/reset", {})

    def _get(self, path: str) -> dict[str, Any]:
        response = self._http.get(self._control + path, timeout=_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> None:
        response = self._http.post(self._control + path, json=body, timeout=_TIMEOUT)
        response.raise_for_status()


class MetaSandboxClient(_ControlClient):
    """Inspect and steer the Meta emulator of the sandbox at ``server_url``."""

    control_prefix = meta.CONTROL_PREFIX

    @property
    def base_url(self) -> str:
        """The Meta destination's ``base_url`` config for this sandbox."""
        return self.server_url + meta.API_PREFIX

    def destination_config(self, **overrides: Any) -> dict[str, Any]:
        """A complete Meta destination config pointing at this sandbox (token included)."""
        config: dict[str, Any] = {
            "base_url": self.base_url,
            "api_version": "v25.0",
            "ad_account_id": "1234567890",
            "access_token": "sandbox-token-0123456789abcdef",
            "identifiers": ["email", "phone"],
            "phone_region": "US",
        }
        config.update(overrides)
        return config

    # --- what the sandbox holds ----------------------------------------------------------------------

    def audiences(self) -> list[dict[str, Any]]:
        """Every audience: id, account_id, name, size, matched."""
        return self._get("/audiences")["audiences"]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        """The audience's members, each as schema key -> hash (EXTERN_ID unhashed), in a stable order."""
        return self._get(f"/audiences/{audience_id}/members")["members"]

    def data_calls(self) -> list[dict[str, Any]]:
        """The add and remove calls so far (what "at most ceil(n/10,000) calls" counts)."""
        return self.request_log(ops=("add", "remove"))

    def throttle(
        self,
        n: int,
        code: int = 80003,
        *,
        regain_minutes: float = 0,
        retry_after: float | None = None,
        ops: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``n`` calls (of ``ops``, default all) with rate-limit error ``code``.

        ``regain_minutes`` goes into ``X-Business-Use-Case-Usage``; ``retry_after`` adds a Retry-After header.
        """
        self._post(
            "/throttle",
            {
                "n": n,
                "code": code,
                "regain_minutes": regain_minutes,
                "retry_after": retry_after,
                "ops": list(ops or ()),
            },
        )


class TikTokSandboxClient(_ControlClient):
    """Inspect and steer the TikTok emulator of the sandbox at ``server_url``."""

    control_prefix = tiktok.CONTROL_PREFIX

    @property
    def base_url(self) -> str:
        """The TikTok destination's ``base_url`` config for this sandbox."""
        return self.server_url + tiktok.API_PREFIX + tiktok.VERSION_PREFIX

    def destination_config(self, **overrides: Any) -> dict[str, Any]:
        """A complete TikTok destination config pointing at this sandbox (token included)."""
        config: dict[str, Any] = {
            "base_url": self.base_url,
            "advertiser_id": "7000000000001",
            "access_token": "sandbox-tiktok-token-0123456789",
            "identifiers": ["email", "phone"],
            "phone_region": "US",
            "email_strip_dots_and_tags": False,
        }
        config.update(overrides)
        return config

    def audiences(self) -> list[dict[str, Any]]:
        """Every audience: id, advertiser_id, name, size, matched."""
        return self._get("/audiences")["audiences"]

    def members(self, audience_id: str) -> list[dict[str, str]]:
        """The audience's members, each as id_schema type -> hash, in a stable order."""
        return self._get(f"/audiences/{audience_id}/members")["members"]

    def data_calls(self) -> list[dict[str, Any]]:
        """The mapping calls (adds and deletes) so far."""
        return self.request_log(ops=("mapping",))

    def throttle(
        self, n: int, code: int = 40100, *, retry_after: float | None = None, ops: Iterable[str] | None = None
    ) -> None:
        """Answer the next ``n`` calls with rate-limit envelope ``code`` on HTTP 200 (optional Retry-After)."""
        self._post("/throttle", {"n": n, "code": code, "retry_after": retry_after, "ops": list(ops or ())})

    def error(self, n: int, code: int, message: str = "", *, ops: Iterable[str] | None = None) -> None:
        """Answer the next ``n`` calls with envelope ``code`` and ``message`` on HTTP 200."""
        self._post("/error", {"n": n, "code": code, "message": message, "ops": list(ops or ())})

    def max_rows(self, n: int) -> None:
        """Accept at most ``n`` rows per mapping call (1,000 by default)."""
        self._post("/max_rows", {"n": n})


class GoogleSandboxClient(_ControlClient):
    """Inspect and steer the Google Data Manager emulator of the sandbox at ``server_url``."""

    control_prefix = google.CONTROL_PREFIX

    @property
    def base_url(self) -> str:
        """The Google destination's ``base_url`` config for this sandbox."""
        return self.server_url + google.API_PREFIX + google.VERSION_PREFIX

    def destination_config(self, **overrides: Any) -> dict[str, Any]:
        """A complete Google Customer Match destination config pointing at this sandbox (token included)."""
        config: dict[str, Any] = {
            "base_url": self.base_url,
            "operating_account_id": "1234567890",
            "user_list_id": "5550001",
            "access_token": "sandbox-google-token-0123456789",
            "identifiers": ["email", "phone"],
            "phone_region": "US",
            "consent_traits": {
                "ad_user_data": "consent_ad_user_data",
                "ad_personalization": "consent_ad_personalization",
            },
        }
        config.update(overrides)
        return config

    def lists(self) -> list[dict[str, Any]]:
        """Every user list the sandbox has seen: id, account_id, size, matched."""
        return self._get("/lists")["lists"]

    def members(self, list_id: str) -> list[dict[str, str]]:
        """The list's members, each as identifier field (``emailAddress``, ``phoneNumber``) -> hex hash."""
        return self._get(f"/lists/{list_id}/members")["members"]

    def data_calls(self) -> list[dict[str, Any]]:
        """The ingest and remove calls so far (validateOnly ones included, flagged ``validate_only``)."""
        return self.request_log(ops=("ingest", "remove"))

    def throttle(
        self,
        n: int,
        *,
        retry_after: float | None = None,
        retry_delay: float | None = None,
        ops: Iterable[str] | None = None,
    ) -> None:
        """Answer the next ``n`` calls with HTTP 429 RESOURCE_EXHAUSTED (optional Retry-After / RetryInfo)."""
        body = {"n": n, "retry_after": retry_after, "retry_delay": retry_delay, "ops": list(ops or ())}
        self._post("/throttle", body)

    def processing(self, polls: int) -> None:
        """Answer the first ``polls`` status polls of each later request with PROCESSING (1 by default)."""
        self._post("/processing", {"polls": polls})

    def outcome(self, n: int, reason: str = "INTERNAL_ERROR", *, ops: Iterable[str] | None = None) -> None:
        """End the next ``n`` ingest/remove requests FAILED with ``reason`` (nothing applied)."""
        self._post("/outcome", {"n": n, "reason": reason, "ops": list(ops or ())})

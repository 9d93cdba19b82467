"""A small client for the sandbox's control endpoints, for tests and for checking the demo by hand.

It speaks HTTP, so it works the same against a sandbox in a test thread and one started by
``manage.py run_sandbox`` in another process.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from . import meta

_TIMEOUT = (2.0, 30.0)


class MetaSandboxClient:
    """Inspect and steer the Meta emulator of the sandbox at ``server_url``."""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.rstrip("/")
        self._control = self.server_url + meta.CONTROL_PREFIX
        self._http = requests.Session()

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

    def member_values(self, audience_id: str, key: str) -> set[str]:
        """The set of values of one schema key (``EMAIL``, ``PHONE``, ``EXTERN_ID``) among the members."""
        return {member[key] for member in self.members(audience_id) if key in member}

    def request_log(self, *, ops: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every API call so far (method, path, op, rows, status, error_code; never a token).

        ``op`` is one of create_audience, add, remove, read_audience, read_account, delete_audience, other.
        """
        wanted = set(ops) if ops is not None else None
        entries = self._get("/requests")["requests"]
        return [entry for entry in entries if wanted is None or entry["op"] in wanted]

    def data_calls(self) -> list[dict[str, Any]]:
        """The add and remove calls so far (what "at most ceil(n/10,000) calls" counts)."""
        return self.request_log(ops=("add", "remove"))

    # --- knobs ---------------------------------------------------------------------------------------

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

    def fail(self, n: int, *, status: int = 500, ops: Iterable[str] | None = None) -> None:
        """Answer the next ``n`` calls with HTTP ``status`` (an unexpected, transient Graph error)."""
        self._post("/fail", {"n": n, "status": status, "ops": list(ops or ())})

    def hang(self, n: int, seconds: float, *, ops: Iterable[str] | None = None) -> None:
        """Hold the next ``n`` calls for ``seconds`` before handling them (for timeout tests)."""
        self._post("/hang", {"n": n, "seconds": seconds, "ops": list(ops or ())})

    def reject_token(self) -> None:
        """Answer every call with code 190 (invalid token) until :meth:`accept_token` or :meth:`reset`."""
        self._post("/reject_token", {})

    def accept_token(self) -> None:
        self._post("/accept_token", {})

    def reset(self) -> None:
        """Forget every audience, knob and logged request."""
        self._post("/reset", {})

    # --- HTTP ----------------------------------------------------------------------------------------

    def _get(self, path: str) -> dict[str, Any]:
        response = self._http.get(self._control + path, timeout=_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> None:
        response = self._http.post(self._control + path, json=body, timeout=_TIMEOUT)
        response.raise_for_status()

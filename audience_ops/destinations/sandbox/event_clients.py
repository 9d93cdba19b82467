"""Clients of the analytics and webhook receivers' control endpoints (tests, the demo, checking by hand)."""

from __future__ import annotations

from typing import Any

import requests

from . import receivers

_TIMEOUT = (2.0, 30.0)


class _ReceiverClient:
    api_prefix = ""
    control_prefix = ""

    def __init__(self, server_url: str) -> None:
        self.server_url = server_url.rstrip("/")
        self._http = requests.Session()

    def members(self, audience: str) -> list[str]:
        """Profile keys the receiver's replayed events say are in ``audience`` now (sorted)."""
        return self._get("/members", audience=audience)["members"]

    def changes(self) -> list[dict[str, Any]]:
        """Every distinct change applied, in order: audience, key, change (entered/exited)."""
        return self._get("/changes")["changes"]

    def request_log(self) -> list[dict[str, Any]]:
        """Every call so far: path, status and how many events/changes it carried."""
        return self._get("/requests")["requests"]

    def data_calls(self) -> list[dict[str, Any]]:
        return self.request_log()

    def throttle(self, n: int, *, retry_after: float | None = None) -> None:
        """Answer the next ``n`` calls with 429 (and ``Retry-After`` when given)."""
        self._post("/throttle", {"n": n, "retry_after": retry_after})

    def fail(self, n: int, *, status: int = 500) -> None:
        self._post("/fail", {"n": n, "status": status})

    def reject_token(self) -> None:
        """Answer every call with 401 until :meth:`accept_token`."""
        self._post("/reject", {})

    def accept_token(self) -> None:
        self._post("/accept", {})

    def reset(self) -> None:
        self._post("/reset", {})

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self._http.get(self.server_url + self.control_prefix + path, params=params, timeout=_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def _post(self, path: str, body: dict[str, Any]) -> None:
        response = self._http.post(self.server_url + self.control_prefix + path, json=body, timeout=_TIMEOUT)
        response.raise_for_status()


class SegmentReceiverClient(_ReceiverClient):
    """The Segment-Spec receiver: ``destination_config()`` is a ``segment_analytics`` config for it."""

    api_prefix = receivers.SEGMENT_API_PREFIX
    control_prefix = receivers.SEGMENT_CONTROL_PREFIX

    @property
    def host(self) -> str:
        return self.server_url + self.api_prefix

    def destination_config(self, **overrides: Any) -> dict[str, Any]:
        return {"host": self.host, "write_key": "sandbox-write-key", **overrides}

    def batches(self) -> list[dict[str, Any]]:
        """Every accepted ``/v1/batch`` body, as sent."""
        return self._get("/batches")["batches"]

    def events(self) -> list[dict[str, Any]]:
        """Every accepted event, in order (duplicates included)."""
        return [event for body in self.batches() for event in body["batch"]]


class WebhookReceiverClient(_ReceiverClient):
    """The Standard Webhooks receiver: ``destination_config()`` is a ``webhook`` config for it."""

    api_prefix = receivers.WEBHOOK_API_PREFIX
    control_prefix = receivers.WEBHOOK_CONTROL_PREFIX
    secret = receivers.SANDBOX_WEBHOOK_SECRET

    @property
    def url(self) -> str:
        return self.server_url + self.api_prefix + "/audiences"

    def destination_config(self, **overrides: Any) -> dict[str, Any]:
        return {"url": self.url, "secret": self.secret, **overrides}

    def deliveries(self) -> list[dict[str, Any]]:
        """Every accepted delivery: id, the webhook-* headers and the raw body (for signature checks)."""
        return self._get("/deliveries")["deliveries"]

    def gone(self) -> None:
        """Answer 410 Gone from now on."""
        self._post("/gone", {})

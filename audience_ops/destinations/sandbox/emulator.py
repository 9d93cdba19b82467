"""What the platform emulators (Meta, TikTok, Google) share: one lock, the request log, the failure knobs
every test steers the same way (fail, hang, reject_token / accept_token, reset), and the control endpoint
that reads and sets them.

Each emulator keeps what is its own: how it answers (error shapes, envelopes), its audiences, and its extra
knobs (TikTok's ``error`` and ``max_rows``, Google's ``outcome`` and ``processing``, each ``throttle``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from .http import Request, Response


@dataclass
class Knob:
    """Apply something to the next ``remaining`` API calls whose operation is in ``ops`` (all when empty)."""

    remaining: int
    ops: frozenset[str]
    options: dict[str, Any]

    def takes(self, op: str) -> bool:
        if self.remaining <= 0 or (self.ops and op not in self.ops):
            return False
        self.remaining -= 1
        return True


class Emulator:
    """The state and control surface common to the emulators. Thread-safe: every state change holds one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every knob, the token refusal and the request log (subclasses also forget their audiences)."""
        with self._lock:
            self._knobs: dict[str, Knob] = {}
            self._token_rejected = False
            self._log: list[dict[str, Any]] = []

    def _log_call(self, entry: dict[str, Any], op: str) -> None:
        """Log an API call and, when the ``hang`` knob takes it, hold it for its seconds outside the lock
        (so the other calls and the control endpoints still answer meanwhile)."""
        with self._lock:
            entry["seq"] = len(self._log) + 1
            self._log.append(entry)
            hang = self._knobs.get("hang")
            delay = float(hang.options["seconds"]) if hang and hang.takes(op) else 0.0
        if delay:
            entry["hung_seconds"] = delay
            time.sleep(delay)

    # --- control endpoints for tests -----------------------------------------------------------------

    def handle_control(self, request: Request) -> Response:
        """``/_sandbox/<platform>/...``: inspect what the emulator holds and set its failure knobs."""
        parts = [part for part in request.path.split("/") if part]
        method = request.method
        body = request.json_body if isinstance(request.json_body, dict) else request.params
        with self._lock:
            response = self._inspect(parts, method)
            if response is not None:
                return response
            if parts == ["requests"] and method == "GET":
                return Response(200, {"requests": [dict(entry) for entry in self._log]})
            if method != "POST" or len(parts) != 1:
                return Response(404, {"error": f"no control endpoint {method} /{'/'.join(parts)}"})
            action = parts[0]
            ops = frozenset(body.get("ops") or ())
            count = int(body.get("n", 1))
            if self._set_knob(action, body, count, ops):
                pass
            elif action == "fail":
                self._knobs["fail"] = Knob(count, ops, {"status": int(body.get("status", 500))})
            elif action == "hang":
                self._knobs["hang"] = Knob(count, ops, {"seconds": float(body.get("seconds", 5))})
            elif action == "reject_token":
                self._token_rejected = True
            elif action == "accept_token":
                self._token_rejected = False
            elif action == "reset":
                self.reset()
            else:
                return Response(404, {"error": f"unknown knob {action}"})
            return Response(200, {"ok": True})

    def _inspect(self, parts: list[str], method: str) -> Response | None:
        """The emulator's own read-only control endpoints (audiences, members); None when ``parts`` is not one."""
        return None

    def _set_knob(self, action: str, body: dict[str, Any], count: int, ops: frozenset[str]) -> bool:
        """Set one of the emulator's own knobs; False when ``action`` is not one of them."""
        return False

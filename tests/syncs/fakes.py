"""An in-test destination: a fake adapter over an in-memory platform, registered for a test-only kind.

It hashes nothing and sends nothing over the network, so the engine's own rules (plan, batches, ledger,
retries, locking) are tested without a platform in the way; the reliability tests use the Meta sandbox.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from audience_ops.destinations.adapters.base import (
    Adapter,
    BatchResult,
    Capabilities,
    MatchStats,
    PermanentError,
    PreparedRow,
    RawIdentifiers,
    RowError,
    TransientError,
)

FAKE_KIND = "test_fake"


@dataclass
class FakePlatform:
    """What the fake destination holds, every call it received, and scripted failures."""

    audiences: dict[str, set[str]] = field(default_factory=dict)
    calls: list[tuple[str, int]] = field(default_factory=list)  # (operation, rows)
    script: list[Exception] = field(default_factory=list)  # raised by the next calls, in order
    reject: set[str] = field(default_factory=set)  # emails the platform rejects per row
    batch_size: int = 3
    supports_removal: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        self.audiences.clear()
        self.calls.clear()
        self.script.clear()
        self.reject.clear()
        self.batch_size = 3
        self.supports_removal = True

    def held(self, remote_id: str | None = None) -> set[str]:
        if remote_id is None:
            remote_id = next(iter(self.audiences), None)
        return set(self.audiences.get(remote_id, set()))

    def data_calls(self) -> list[tuple[str, int]]:
        return [call for call in self.calls if call[0] in ("add", "remove")]

    def _maybe_fail(self) -> None:
        if self.script:
            raise self.script.pop(0)


PLATFORM = FakePlatform()


class FakeAdapter(Adapter):
    kind: ClassVar[str] = FAKE_KIND
    label: ClassVar[str] = "Test fake"

    @classmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        return dict(config)

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            identifier_types=("email",),
            batch_size=PLATFORM.batch_size,
            supports_removal=PLATFORM.supports_removal,
            hashes_identifiers=False,
        )

    def prepare(self, raw: RawIdentifiers) -> PreparedRow | None:
        email = (raw.email or "").strip().lower()
        if "@" not in email:
            return None
        return PreparedRow(profile_id=raw.profile_id, values={"email": email})

    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        with PLATFORM.lock:
            PLATFORM.calls.append(("ensure", 0))
            PLATFORM._maybe_fail()
            if remote_id is None:
                remote_id = f"ca-{len(PLATFORM.audiences) + 1}"
                PLATFORM.audiences[remote_id] = set()
            return remote_id

    def _batch(self, op: str, remote_id: str, rows: Sequence[PreparedRow]) -> BatchResult:
        self.check_batch(rows)
        with PLATFORM.lock:
            PLATFORM.calls.append((op, len(rows)))
            PLATFORM._maybe_fail()
            held = PLATFORM.audiences.setdefault(remote_id, set())
            errors = []
            for row in rows:
                email = row.values["email"]
                if op == "add" and email in PLATFORM.reject:
                    errors.append(RowError(profile_id=row.profile_id, message=f"rejected {email}"))
                elif op == "add":
                    held.add(email)
                else:
                    held.discard(email)
            return BatchResult(received=len(rows), invalid=len(errors), row_errors=tuple(errors), response={})

    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._batch("add", remote_id, rows)

    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        return self._batch("remove", remote_id, rows)

    def match_stats(self, *, remote_id: str) -> MatchStats:
        with PLATFORM.lock:
            PLATFORM.calls.append(("stats", 0))
            held = PLATFORM.audiences.get(remote_id, set())
            return MatchStats(matched=len([e for e in held if not e.startswith("unknown")]))

    def test_connection(self) -> str:
        return "ok"


def transient(message: str = "slow down", retry_after: float | None = None) -> TransientError:
    return TransientError(message, code="80003", retry_after=retry_after)


def permanent(message: str = "Invalid OAuth access token") -> PermanentError:
    return PermanentError(message, code="190")

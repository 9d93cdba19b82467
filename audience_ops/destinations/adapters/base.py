"""The adapter interface every destination kind implements, and the value types the sync engine exchanges
with it.

The sync engine plans, batches, retries and keeps the ledger; an adapter only knows one platform: how to
normalise and hash identifiers for it (:meth:`Adapter.prepare`, pure), how to create the remote audience,
and how to send one batch of adds or removals. It maps every platform answer faithfully to a
:class:`BatchResult` or to one of two exceptions: :class:`TransientError` (retry later, maybe after
``retry_after`` seconds) or :class:`PermanentError` (stop the run and show the platform's message). It does
not retry by itself, so a retry policy lives in exactly one place.

Every HTTP call goes through one ``requests.Session`` per adapter with explicit connect/read timeouts
(:attr:`Adapter.timeout`, from ``DESTINATION_HTTP_TIMEOUT``), so a hanging platform fails the batch instead
of the worker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import requests
from django.conf import settings

if TYPE_CHECKING:
    from ..models import Destination

IDENTIFIER_TYPES: tuple[str, ...] = ("email", "phone", "external_id")
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)


@dataclass(frozen=True)
class Capabilities:
    """What a destination (as configured) can receive and do."""

    identifier_types: tuple[str, ...]  # subset of IDENTIFIER_TYPES this destination receives
    batch_size: int  # max rows per add/remove request (Meta: 10_000)
    supports_removal: bool
    hashes_identifiers: bool
    # The adapter reads profile traits in ``prepare`` (Google: consent): the engine fills RawIdentifiers.traits.
    needs_traits: bool = False
    # The adapter publishes a run's changes at once in :meth:`Adapter.finish_run` (the warehouse): an
    # acknowledged batch is durably staged, not yet visible, and the engine calls ``finish_run`` even when
    # the run sent nothing, so a run that crashed after staging is published by the next one.
    commits_runs: bool = False


@dataclass(frozen=True)
class RawIdentifiers:
    """A profile's identifiers as stored, before any normalisation."""

    profile_id: int
    external_id: str | None
    email: str | None
    phone: str | None
    # The profile's traits, filled by the engine only when ``Capabilities.needs_traits`` (else None).
    traits: dict | None = None
    # The profile's most recent anonymous id, filled with the traits for a profile without an external id.
    anonymous_id: str | None = None


@dataclass(frozen=True)
class RunContext:
    """What a run is about, for adapters that send more than identifiers (analytics events, webhooks, the
    warehouse's change log). The engine hands it to :meth:`Adapter.begin_run` before the first batch."""

    run_id: int
    sync_id: int
    as_of: str  # ISO-8601, the membership time of the run
    audience_slug: str
    audience_name: str
    audience_kind: str
    intent: str
    offer: str
    version: int | None  # the audience's live version number at the run
    destination_id: int
    destination_name: str
    mode: str  # mirror or add_only


@dataclass(frozen=True)
class PreparedRow:
    """One profile as the platform wants it: identifier type -> normalised (and hashed if required) value.

    Only identifier types that had a usable value are present; a profile with none is not a row at all
    (``prepare`` returns None: unmatchable).

    ``skip_reason`` set means the profile is matchable but must not be sent (Google: no consent). The engine
    does not send it, does not put it in the ledger, and counts it apart from unmatchable profiles; an
    adapter handed such a row anyway leaves it out of the request and reports it as a :class:`RowError`.
    """

    profile_id: int
    values: dict[str, str]
    skip_reason: str | None = None


@dataclass(frozen=True)
class RowError:
    """A row the platform rejected individually."""

    profile_id: int
    message: str


@dataclass(frozen=True)
class BatchResult:
    """The platform's acknowledgement of one add or remove request."""

    received: int  # what the platform says it received
    invalid: int  # num_invalid_entries or equivalent
    row_errors: tuple[RowError, ...]  # rows the platform rejected individually (may be empty)
    response: dict  # the platform's response body (no PII: hashes only), stored on the run


@dataclass(frozen=True)
class MatchStats:
    """What the platform reports about how many audience members it matched."""

    matched: int | None  # platform-reported matched/approximate count, when available
    detail: dict = field(default_factory=dict)


class DestinationError(Exception):
    """A call to the platform failed. ``message`` is the platform's own message when it gave one."""

    def __init__(self, message: str, *, code: str | None = None, response: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.response = response or {}

    def __str__(self) -> str:
        return f"{self.message} (code {self.code})" if self.code else self.message


class TransientError(DestinationError):
    """Worth retrying: rate limits, 5xx, timeouts, connection errors. ``retry_after`` is in seconds."""

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        response: dict | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, code=code, response=response)
        self.retry_after = retry_after


class PermanentError(DestinationError):
    """Retrying will not help (invalid token, bad request, permissions): stop the run with this message."""


class NotSupported(DestinationError):
    """The destination (or this adapter) cannot do the operation at all; the caller falls back."""


class ConfigError(ValueError):
    """A destination's configuration is invalid; ``errors`` maps a config path to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{path}: {message}" for path, message in self.errors.items()))


class Adapter(ABC):
    """One destination kind. Instances are cheap; create one per run (``registry.adapter_for``)."""

    kind: ClassVar[str]
    label: ClassVar[str]
    # Config keys that are credentials: stored encrypted, never logged, shown masked.
    secret_keys: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, destination: Destination, *, timeout: tuple[float, float] | None = None) -> None:
        self.destination = destination
        self.config: dict[str, Any] = self.clean_config(destination.full_config())
        self.timeout = timeout or http_timeout()
        self.session = requests.Session()
        self.context: RunContext | None = None

    # --- configuration -------------------------------------------------------------------------------

    @classmethod
    @abstractmethod
    def clean_config(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """The complete config (secrets included) with defaults filled in; raise :class:`ConfigError`
        naming each bad key (``config.identifiers[1]: ...``)."""

    # --- operations ----------------------------------------------------------------------------------

    @property
    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What this destination receives (may depend on config, e.g. which identifiers are mapped)."""

    @abstractmethod
    def prepare(self, raw: RawIdentifiers) -> PreparedRow | None:
        """Normalise (and hash) the identifiers this destination receives; None when none is usable. No I/O."""

    @abstractmethod
    def ensure_audience(self, *, remote_id: str | None, name: str, description: str) -> str:
        """Create the remote audience when ``remote_id`` is None; return its remote id."""

    @abstractmethod
    def add(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        """Add one batch (at most ``capabilities.batch_size`` rows) to the remote audience."""

    @abstractmethod
    def remove(self, *, remote_id: str, rows: Sequence[PreparedRow], batch_id: str) -> BatchResult:
        """Remove one batch (at most ``capabilities.batch_size`` rows) from the remote audience."""

    @abstractmethod
    def match_stats(self, *, remote_id: str) -> MatchStats:
        """The platform's matched (or approximate) audience size."""

    @abstractmethod
    def test_connection(self) -> str:
        """Check the credentials and account with a harmless call; a human message, or DestinationError."""

    # --- optional run hooks (no-ops unless an adapter needs them) -------------------------------------

    def begin_run(self, context: RunContext) -> None:
        """Called once per claim of a run, before any batch: adapters that send event payloads keep it."""
        self.context = context

    def finish_run(self, *, remote_id: str, ok: bool) -> None:
        """Called once at the end of a run that sent every batch (``ok``). Adapters whose
        ``capabilities.commits_runs`` publish everything staged here; may raise like a batch call."""
        return None

    # --- optional operations (raise NotSupported unless an adapter implements them) -------------------

    # True when :meth:`delete_audience` is implemented, so the retire page can offer it.
    can_delete_audience: ClassVar[bool] = False

    def delete_audience(self, *, remote_id: str) -> None:
        """Delete the remote audience itself (retirement). Raises :class:`NotSupported` by default: the
        caller then removes the members instead."""
        raise NotSupported(f"{self.label} audiences cannot be deleted from here")

    # --- helpers for subclasses ----------------------------------------------------------------------

    def check_batch(self, rows: Sequence[PreparedRow]) -> None:
        """Refuse an oversized batch: batching is the caller's job and the platform would reject it."""
        limit = self.capabilities.batch_size
        if len(rows) > limit:
            raise ValueError(f"{len(rows)} rows in one batch; {self.kind} accepts at most {limit}")
        if not rows:
            raise ValueError("an empty batch is not sent")


def split_skipped(rows: Sequence[PreparedRow]) -> tuple[list[PreparedRow], tuple[RowError, ...]]:
    """(rows to send, a RowError per row that carries a ``skip_reason``): a skipped row is never sent."""
    sendable = [row for row in rows if not row.skip_reason]
    skipped = tuple(
        RowError(profile_id=row.profile_id, message=f"Not sent: {row.skip_reason}") for row in rows if row.skip_reason
    )
    return sendable, skipped


def http_timeout() -> tuple[float, float]:
    """(connect, read) timeout in seconds for every outbound call, from ``DESTINATION_HTTP_TIMEOUT``."""
    value = getattr(settings, "DESTINATION_HTTP_TIMEOUT", DEFAULT_TIMEOUT)
    connect, read = value
    return (float(connect), float(read))

"""Identifier coverage of an audience, overall and per destination: why a match rate is what it is.

A low match rate is often not the platform's fault: members without an email, with a phone number that
cannot be parsed, or without the identifier a destination receives can never match. This module shows
those shares before anyone blames the platform.

Cost stays bounded for large audiences:

- the *presence* of each identifier (email, phone, external id) is counted in SQL over every current member;
- *validity* (a syntactically valid email, a phone number that parses and exists) and the share that is
  *unmatchable* for a destination need the destination adapter's own ``prepare()`` (the exact code a sync
  runs), so they are computed on an evenly spread sample of at most ``COVERAGE_SAMPLE_SIZE`` members
  (every k-th profile id) and labelled "estimated from N members" when the audience is larger;
- what the platform itself reported (invalid entries, rejected rows) comes from the recorded sync runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import Mod

from audience_ops.audiences.models import Audience, MembershipSpan
from audience_ops.customers.models import Profile
from audience_ops.destinations import normalise
from audience_ops.destinations.adapters.base import Adapter, ConfigError, RawIdentifiers
from audience_ops.destinations.registry import adapter_for
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync, SyncRun

DEFAULT_SAMPLE_SIZE = 1000
# How many recent finished runs the platform-reported figures add up.
RECENT_RUNS = 10


def sample_size_setting() -> int:
    return max(1, int(getattr(settings, "COVERAGE_SAMPLE_SIZE", DEFAULT_SAMPLE_SIZE)))


@dataclass(frozen=True)
class Share:
    """``count`` out of ``total``, with the ratio for display (None when there is nothing to divide)."""

    count: int
    total: int

    @property
    def ratio(self) -> float | None:
        return self.count / self.total if self.total else None


@dataclass(frozen=True)
class IdentifierCoverage:
    """Which identifiers the current members carry (presence exact, validity from the sample)."""

    members: int
    with_email: Share
    with_phone: Share
    with_external_id: Share
    valid_email: Share  # over the sample
    valid_phone: Share  # over the sample
    sample_size: int

    @property
    def estimated(self) -> bool:
        """True when validity figures come from a sample smaller than the audience."""
        return self.sample_size < self.members


@dataclass(frozen=True)
class DestinationCoverage:
    """One sync of the audience: what its destination receives and how much of the audience can match."""

    sync: Sync
    identifier_types: tuple[str, ...]
    matchable: Share | None  # over the sample; None when the adapter could not be built
    unmatchable: Share | None
    not_sendable: Share | None  # matchable but held back by the adapter (e.g. no consent)
    problem: str  # why the shares could not be computed ("" when they were)
    last_run: SyncRun | None
    recent_runs: int
    recent_unmatchable: int
    recent_invalid: int
    recent_failed_rows: int
    recent_sent: int

    @property
    def recent_invalid_share(self) -> Share:
        return Share(self.recent_invalid, self.recent_sent)


@dataclass(frozen=True)
class AudienceCoverage:
    audience: Audience
    identifiers: IdentifierCoverage
    destinations: list[DestinationCoverage]


def audience_coverage(*, audience: Audience, sample_size: int | None = None) -> AudienceCoverage:
    """Identifier coverage of the audience's current members and, per sync, the destination's view of them."""
    sample_size = sample_size or sample_size_setting()
    members = Profile.objects.filter(audience_spans__audience=audience, audience_spans__exited_at__isnull=True)
    counts = members.aggregate(
        total=Count("pk"),
        email=Count("pk", filter=Q(email__isnull=False) & ~Q(email="")),
        phone=Count("pk", filter=Q(phone__isnull=False) & ~Q(phone="")),
        external_id=Count("pk", filter=Q(external_id__isnull=False) & ~Q(external_id="")),
    )
    total = counts["total"]
    sample = member_sample(audience=audience, members=total, limit=sample_size)
    region = getattr(settings, "DEFAULT_PHONE_REGION", "US")
    valid_email = sum(1 for raw in sample if normalise.normalise_email(raw.email) is not None)
    valid_phone = sum(1 for raw in sample if normalise.normalise_phone(raw.phone, default_region=region) is not None)
    identifiers = IdentifierCoverage(
        members=total,
        with_email=Share(counts["email"], total),
        with_phone=Share(counts["phone"], total),
        with_external_id=Share(counts["external_id"], total),
        valid_email=Share(valid_email, len(sample)),
        valid_phone=Share(valid_phone, len(sample)),
        sample_size=len(sample),
    )
    syncs = list(Sync.objects.filter(audience=audience).select_related("destination").order_by("destination__name"))
    runs = _recent_runs(syncs)
    destinations = [destination_coverage(sync=sync, sample=sample, runs=runs.get(sync.pk, [])) for sync in syncs]
    return AudienceCoverage(audience=audience, identifiers=identifiers, destinations=destinations)


def member_sample(*, audience: Audience, members: int, limit: int) -> list[RawIdentifiers]:
    """At most ``limit`` current members, every k-th profile id so the sample spreads over the whole audience.

    The stride filter runs in the database, so only the sampled rows are loaded. Traits are loaded too:
    an adapter that needs them (consent) reads them in ``prepare``.
    """
    spans = MembershipSpan.objects.filter(audience=audience, exited_at__isnull=True)
    if members > limit:
        stride = math.ceil(members / limit)
        spans = spans.annotate(bucket=Mod("profile_id", stride)).filter(bucket=0)
    rows = spans.order_by("profile_id").values_list(
        "profile_id", "profile__external_id", "profile__email", "profile__phone", "profile__traits"
    )[:limit]
    return [
        RawIdentifiers(
            profile_id=profile_id,
            external_id=external_id or None,
            email=email or None,
            phone=phone or None,
            traits=traits if isinstance(traits, dict) else {},
        )
        for profile_id, external_id, email, phone, traits in rows
    ]


def destination_coverage(*, sync: Sync, sample: list[RawIdentifiers], runs: list[SyncRun]) -> DestinationCoverage:
    """Run the destination's own ``prepare()`` over the sample: None is unmatchable, a skip reason is held back."""
    figures: dict[str, Any] = {
        "last_run": runs[0] if runs else None,
        "recent_runs": len(runs),
        "recent_unmatchable": sum(run.unmatchable for run in runs),
        "recent_invalid": sum(run.invalid for run in runs),
        "recent_failed_rows": sum(run.failed_rows for run in runs),
        "recent_sent": sum(run.added + run.removed + run.failed_rows for run in runs),
    }
    try:
        adapter: Adapter = adapter_for(sync.destination)
        capabilities = adapter.capabilities
    except (ConfigError, KeyError, ValueError) as exc:
        return DestinationCoverage(
            sync=sync,
            identifier_types=(),
            matchable=None,
            unmatchable=None,
            not_sendable=None,
            problem=f"The destination's configuration cannot be read: {exc}",
            **figures,
        )
    unmatchable = not_sendable = 0
    for raw in sample:
        row = adapter.prepare(raw if capabilities.needs_traits else _without_traits(raw))
        if row is None:
            unmatchable += 1
        elif row.skip_reason:
            not_sendable += 1
    total = len(sample)
    return DestinationCoverage(
        sync=sync,
        identifier_types=tuple(capabilities.identifier_types),
        matchable=Share(total - unmatchable - not_sendable, total),
        unmatchable=Share(unmatchable, total),
        not_sendable=Share(not_sendable, total),
        problem="",
        **figures,
    )


def _without_traits(raw: RawIdentifiers) -> RawIdentifiers:
    """What the sync engine hands an adapter that does not read traits (see ``Capabilities.needs_traits``)."""
    return RawIdentifiers(profile_id=raw.profile_id, external_id=raw.external_id, email=raw.email, phone=raw.phone)


def _recent_runs(syncs: list[Sync]) -> dict[int, list[SyncRun]]:
    """The last ``RECENT_RUNS`` finished real runs of each sync, newest first (one query per sync at most
    a handful: an audience has one sync per destination)."""
    result: dict[int, list[SyncRun]] = {}
    for sync in syncs:
        result[sync.pk] = list(
            SyncRun.objects.filter(sync=sync, dry_run=False, state__in=[RunState.SUCCEEDED, RunState.FAILED]).order_by(
                "-finished_at", "-pk"
            )[:RECENT_RUNS]
        )
    return result

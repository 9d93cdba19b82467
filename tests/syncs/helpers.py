"""Helpers for sync tests: profiles in or out of a test audience by a trait, and audiences that select them."""

from __future__ import annotations

import datetime as dt

from audience_ops.audiences.models import Audience
from audience_ops.customers.models import Profile
from audience_ops.syncs.models import LedgerEntry, Sync
from tests.audiences.helpers import audience_dict, create_audiences

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
IN_RULE = {"attribute": "seg", "op": "eq", "value": "in"}


def member_audience(slug: str = "test-members", **extra) -> Audience:
    """An analytics audience of the profiles whose ``seg`` trait is "in" (owner maria must exist)."""
    (audience,) = create_audiences(audience_dict(slug, IN_RULE, **extra))
    return audience


def make_members(count: int, *, start: int = 0, email: bool = True, seg: str = "in") -> list[Profile]:
    profiles = [
        Profile(
            external_id=f"cus_{i:06d}",
            email=f"Person{i}@Example.com " if email else None,
            traits={"seg": seg},
        )
        for i in range(start, start + count)
    ]
    return Profile.objects.bulk_create(profiles)


def set_seg(profiles: list[Profile], seg: str) -> None:
    Profile.objects.filter(pk__in=[p.pk for p in profiles]).update(traits={"seg": seg})


def emails(profiles: list[Profile]) -> set[str]:
    return {p.email.strip().lower() for p in profiles if p.email}


def ledger_ids(sync: Sync) -> set[int]:
    return set(LedgerEntry.objects.filter(sync=sync).values_list("profile_id", flat=True))

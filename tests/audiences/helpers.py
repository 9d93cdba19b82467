"""Helpers for audience tests: a fixed ``now``, the spec's example file, profiles, events and audiences."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_import, audience_member_ids
from audience_ops.customers.models import AnonymousId, Event, Profile

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
_message_ids = itertools.count(1)

SPEC_EXAMPLE: dict[str, Any] = {
    "audiences": [
        {
            "slug": "purchased-24h",
            "name": "Purchased in last 24 hours",
            "kind": "suppression",
            "objective": "ads",
            "owner": "ops",
            "purpose": "Never retarget people who just bought",
            "retire_on": "2027-06-30",
            "rule": {"event": "Order Completed", "within": {"hours": 24}},
        },
        {
            "slug": "cart-abandoners-3d",
            "name": "Cart abandoners, last 3 days",
            "kind": "targeting",
            "objective": "ads",
            "owner": "maria",
            "purpose": "Short paid retargeting window after cart abandonment; full-price creative",
            "retire_on": "2027-03-31",
            "paired_suppression": "purchased-24h",
            "intent": "cart",
            "offer": "full_price",
            "rule": {
                "all": [
                    {"event": "Product Added", "within": {"days": 3}},
                    {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
                    {"attribute": "unsubscribed", "op": "ne", "value": True},
                ]
            },
        },
        {
            "slug": "coffee-replenish",
            "name": "Second coffee purchase due",
            "kind": "targeting",
            "objective": "ads",
            "owner": "maria",
            "purpose": "Replenishment reminder for coffee buyers",
            "retire_on": "2027-03-31",
            "paired_suppression": "purchased-24h",
            "intent": "replenish",
            "rule": {
                "event": "Order Completed",
                "where": [{"property": "category", "op": "eq", "value": "coffee"}],
                "last": {"days_ago": [25, 45]},
            },
        },
    ]
}


def make_profile(
    *,
    external_id: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    traits: dict[str, Any] | None = None,
    anonymous_ids: tuple[str, ...] = (),
) -> Profile:
    profile = Profile.objects.create(external_id=external_id, email=email, phone=phone, traits=traits or {})
    for anonymous_id in anonymous_ids:
        AnonymousId.objects.create(anonymous_id=anonymous_id, profile=profile)
    return profile


def track(profile: Profile, name: str, at: dt.datetime, **properties: Any) -> Event:
    return Event.objects.create(
        profile=profile, name=name, occurred_at=at, properties=properties, message_id=f"m-{next(_message_ids)}"
    )


def audience_dict(slug: str, rule: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A valid v1 audience object around ``rule`` (analytics objective, so no paired suppression is needed)."""
    data = {
        "slug": slug,
        "name": str(slug).replace("-", " ").capitalize(),
        "kind": "targeting",
        "objective": "analytics",
        "owner": "maria",
        "purpose": "test audience",
        "retire_on": "2027-12-31",
        "rule": rule,
    }
    data.update(extra)
    return data


def create_audiences(*items: dict[str, Any]) -> list[Audience]:
    """Import audience objects (failing the test on any validation problem)."""
    result = audience_import(payload={"audiences": list(items)})
    assert result.problems == []
    return [Audience.objects.get(slug=item["slug"]) for item in items]


def member_ids(audience: Audience, now: dt.datetime = NOW) -> set[int]:
    return set(audience_member_ids(audience=audience, now=now))


def ids(*profiles: Profile) -> set[int]:
    return {profile.pk for profile in profiles}

"""Demo chapter 6 (governance): audiences that put something in Ada's retirement queue and collision report.

- "Summer SPF promo", live, whose retirement date passed three weeks ago;
- "Coffee lovers" and "Coffee fans", two live audiences with the same definition written in a different order
  (near-duplicates: same normalised definition, and the same members);
- "Cart abandoners, 10% off", a live discount audience that overlaps the full-price "Cart abandoners, last 3
  days": the same shoppers would see both creatives (a discount/full-price collision).

They stand for history (campaigns launched months ago), so they are written as already live rather than
walked through QA and review again; chapter 3 shows that path. Idempotent: nothing is added when the first of
them exists; every one is evaluated at the current time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TextIO

from django.db import transaction
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate, audience_import

SLUGS = ("summer-spf-promo", "coffee-lovers", "coffee-fans", "cart-discount-10")

COFFEE_VIEWS = {
    "event": "Product Viewed",
    "where": [{"property": "category", "op": "eq", "value": "coffee"}],
    "count": {"gte": 2},
    "within": {"days": 30},
}
COFFEE_ORDER = {
    "event": "Order Completed",
    "where": [{"property": "category", "op": "eq", "value": "coffee"}],
    "within": {"days": 90},
}


def demo_hygiene_audiences(*, today: dt.date) -> list[dict[str, Any]]:
    """The v1 objects of the chapter 6 audiences, with dates relative to ``today``."""
    common = {"owner": "maria", "kind": "targeting"}
    return [
        {
            **common,
            "slug": "summer-spf-promo",
            "name": "Summer SPF promo",
            "objective": "ads",
            "purpose": "SPF 50 push for the summer season; ended with the season",
            "retire_on": (today - dt.timedelta(days=21)).isoformat(),
            "paired_suppression": "purchased-24h",
            "intent": "browse",
            "rule": {
                "event": "Product Viewed",
                "where": [{"property": "category", "op": "eq", "value": "skincare"}],
                "within": {"days": 30},
            },
        },
        {
            **common,
            "slug": "coffee-lovers",
            "name": "Coffee lovers",
            "objective": "analytics",
            "purpose": "Coffee enthusiasts for the brand-tracking dashboard",
            "retire_on": (today + dt.timedelta(days=120)).isoformat(),
            "intent": "replenish",
            "rule": {"all": [COFFEE_VIEWS, COFFEE_ORDER]},
        },
        {
            **common,
            "slug": "coffee-fans",
            "name": "Coffee fans",
            "objective": "analytics",
            "purpose": "Engaged coffee buyers, for the warehouse cohort report",
            "retire_on": (today + dt.timedelta(days=150)).isoformat(),
            "intent": "replenish",
            "rule": {"all": [COFFEE_ORDER, COFFEE_VIEWS]},
        },
        {
            **common,
            "slug": "cart-discount-10",
            "name": "Cart abandoners, 10% off",
            "objective": "ads",
            "purpose": "Discount retargeting for cart abandoners of the last week",
            "retire_on": (today + dt.timedelta(days=60)).isoformat(),
            "paired_suppression": "purchased-24h",
            "offer": "discount",
            "intent": "cart",
            "rule": {
                "all": [
                    {"event": "Product Added", "within": {"days": 7}},
                    {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 7}},
                ]
            },
        },
    ]


def load_demo_hygiene(*, stdout: TextIO, now: dt.datetime | None = None, evaluate: bool = True) -> None:
    """Add the chapter 6 audiences (once), live, and evaluate them at ``now`` (default: the current time).

    Call it after the story's own audiences are loaded: two of these name "purchased-24h" as their paired
    suppression. ``evaluate=False`` leaves the evaluations to the simulated history.
    """
    now = now or timezone.now()
    if not Audience.objects.filter(slug="purchased-24h").exists():
        stdout.write("  (chapter 6 audiences skipped: purchased-24h is missing)")
        return
    if not Audience.objects.filter(slug=SLUGS[0]).exists():
        with transaction.atomic():
            result = audience_import(payload={"audiences": demo_hygiene_audiences(today=timezone.localdate(now))})
            if result.problems:
                raise RuntimeError("chapter 6 audiences are invalid: " + "; ".join(str(p) for p in result.problems))
            for audience in Audience.objects.filter(slug__in=SLUGS):
                audience.live_version = audience.versions.order_by("-number").first()
                audience.status = AudienceStatus.LIVE
                audience.save(update_fields=["live_version", "status"])
    if not evaluate:
        return
    for audience in Audience.objects.filter(slug__in=SLUGS, status=AudienceStatus.LIVE).order_by("slug"):
        snapshot = audience_evaluate(audience=audience, now=now)
        stdout.write(f"  {audience.slug}: {snapshot.size} members (chapter 6)")

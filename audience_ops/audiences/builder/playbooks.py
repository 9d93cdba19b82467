"""Playbooks: proven retention audiences as pre-filled v1 objects that the marketer adjusts in the builder.

Each playbook is a pure function of the owner and today's date (and, for some, a variant such as the browse
tier or the product category), so what it produces can be validated and tested without a database. Audiences
a playbook relies on (the "purchased in the last 24 hours" suppression, VIP protection) are its companions:
the builder offers to create the missing ones first, so the new audience validates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

TARGETING_REVIEW_DAYS = 90
SUPPRESSION_REVIEW_DAYS = 365
CATEGORIES = ("coffee", "skincare", "supplements")
ACTIVE_EVENTS = ("Page Viewed", "Product Viewed", "Product Added", "Checkout Started", "Order Completed")

PURCHASED_24H = "purchased-24h"
VIP_PROTECT = "vip-protect"

Builder = Callable[[str, dt.date, str], dict[str, Any]]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str


@dataclass(frozen=True)
class Playbook:
    """A template audience: what it is for, how it is built, and which audiences it needs beside it."""

    key: str
    title: str
    summary: str
    icon: str
    build: Builder
    companions: tuple[str, ...] = ()
    variants: tuple[Variant, ...] = field(default_factory=tuple)
    variant_label: str = ""

    @property
    def default_variant(self) -> str:
        return self.variants[0].key if self.variants else ""

    def audience(self, *, owner: str, today: dt.date, variant: str = "") -> dict[str, Any]:
        """The pre-filled v1 audience object; raises ``KeyError`` for an unknown variant."""
        variant = variant or self.default_variant
        if self.variants and variant not in {item.key for item in self.variants}:
            raise KeyError(f"{self.key} has no variant {variant!r}")
        return self.build(owner, today, variant)


# --- companions -------------------------------------------------------------------------------------------


def purchased_24h(owner: str, today: dt.date, _variant: str = "") -> dict[str, Any]:
    """The spec's paired suppression: never retarget people who just bought."""
    return {
        "slug": PURCHASED_24H,
        "name": "Purchased in last 24 hours",
        "kind": "suppression",
        "objective": "ads",
        "owner": owner,
        "purpose": "Never retarget people who just bought",
        "retire_on": _review(today, SUPPRESSION_REVIEW_DAYS),
        "offer": "none",
        "rule": {"event": "Order Completed", "within": {"hours": 24}},
    }


def vip_protection(owner: str, today: dt.date, _variant: str = "") -> dict[str, Any]:
    """Gold and silver VIPs never see discount creative: excluded from every discount audience."""
    return {
        "slug": VIP_PROTECT,
        "name": "VIP protection (gold and silver)",
        "kind": "suppression",
        "objective": "ads",
        "owner": owner,
        "purpose": "Keep gold and silver VIPs out of discount audiences so they are not trained to wait for a sale",
        "retire_on": _review(today, SUPPRESSION_REVIEW_DAYS),
        "offer": "none",
        "intent": "vip",
        "rule": {"attribute": "vip_tier", "op": "in", "value": ["gold", "silver"]},
    }


COMPANIONS: dict[str, Builder] = {PURCHASED_24H: purchased_24h, VIP_PROTECT: vip_protection}


# --- targeting playbooks ----------------------------------------------------------------------------------


def cart_recovery(owner: str, today: dt.date, _variant: str = "") -> dict[str, Any]:
    """The spec's cart abandoners: added to cart within 3 days, no order in those days, not unsubscribed."""
    return {
        "slug": "cart-abandoners-3d",
        "name": "Cart abandoners, last 3 days",
        "kind": "targeting",
        "objective": "ads",
        "owner": owner,
        "purpose": "Short paid retargeting window after cart abandonment; full-price creative",
        "retire_on": _review(today, TARGETING_REVIEW_DAYS),
        "paired_suppression": PURCHASED_24H,
        "offer": "full_price",
        "intent": "cart",
        "rule": {
            "all": [
                {"event": "Product Added", "within": {"days": 3}},
                {"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 3}},
                {"attribute": "unsubscribed", "op": "ne", "value": True},
            ]
        },
    }


BROWSE_TIERS = {
    # tier: (deepest step reached, the next step they did not take, intent, slug, name)
    "viewed": (
        "Product Viewed",
        "Product Added",
        "browse",
        "browse-viewed-7d",
        "Viewed a product, no cart, last 7 days",
    ),
    "added": (
        "Product Added",
        "Checkout Started",
        "cart",
        "browse-added-7d",
        "Added to cart, no checkout, last 7 days",
    ),
    "checkout": (
        "Checkout Started",
        "Order Completed",
        "checkout",
        "browse-checkout-7d",
        "Started checkout, no order, last 7 days",
    ),
}


def browse_intent(owner: str, today: dt.date, variant: str) -> dict[str, Any]:
    """One tier of browse intent: reached a funnel step in the last 7 days but not the next one.

    The tiers do not overlap (a shopper who added to cart is not in "viewed"), so each can carry creative for
    its own stage, and none of them includes a buyer of the last 7 days.
    """
    reached, not_next, intent, slug, name = BROWSE_TIERS[variant]
    conditions: list[dict[str, Any]] = [
        {"event": reached, "within": {"days": 7}},
        {"event": not_next, "count": {"eq": 0}, "within": {"days": 7}},
    ]
    if not_next != "Order Completed":
        conditions.append({"event": "Order Completed", "count": {"eq": 0}, "within": {"days": 7}})
    conditions.append({"attribute": "unsubscribed", "op": "ne", "value": True})
    return {
        "slug": slug,
        "name": name,
        "kind": "targeting",
        "objective": "ads",
        "owner": owner,
        "purpose": f"Browse intent tier '{variant}': creative for shoppers who stopped after {reached}",
        "retire_on": _review(today, TARGETING_REVIEW_DAYS),
        "paired_suppression": PURCHASED_24H,
        "offer": "full_price",
        "intent": intent,
        "rule": {"all": conditions},
    }


def replenishment(owner: str, today: dt.date, variant: str) -> dict[str, Any]:
    """The spec's second purchase due: the last order in a category was 25 to 45 days ago."""
    name = "Second coffee purchase due" if variant == "coffee" else f"Second {variant} purchase due"
    return {
        "slug": f"{variant}-replenish",
        "name": name,
        "kind": "targeting",
        "objective": "ads",
        "owner": owner,
        "purpose": f"Replenishment reminder for {variant} buyers",
        "retire_on": _review(today, TARGETING_REVIEW_DAYS),
        "paired_suppression": PURCHASED_24H,
        "offer": "none",
        "intent": "replenish",
        "rule": {
            "event": "Order Completed",
            "where": [{"property": "category", "op": "eq", "value": variant}],
            "last": {"days_ago": [25, 45]},
        },
    }


def winback(owner: str, today: dt.date, _variant: str = "") -> dict[str, Any]:
    """Lapsed buyers: last order 90 to 180 days ago, nobody active in the last 7 days, VIPs protected."""
    return {
        "slug": "lapsed-90-180d",
        "name": "Lapsed 90-180 days",
        "kind": "targeting",
        "objective": "ads",
        "owner": owner,
        "purpose": "Discount winback for buyers whose last order was 90 to 180 days ago and who are not active now",
        "retire_on": _review(today, TARGETING_REVIEW_DAYS),
        "paired_suppression": PURCHASED_24H,
        "exclude": [VIP_PROTECT],
        "offer": "discount",
        "intent": "winback",
        "rule": {
            "all": [
                {"event": "Order Completed", "last": {"days_ago": [90, 180]}},
                {"not": {"any": [{"event": name, "within": {"days": 7}} for name in ACTIVE_EVENTS]}},
                {"attribute": "unsubscribed", "op": "ne", "value": True},
            ]
        },
    }


PLAYBOOKS: dict[str, Playbook] = {
    playbook.key: playbook
    for playbook in (
        Playbook(
            key="cart-recovery",
            title="Cart recovery",
            summary="Added to cart in the last 3 days, no order since, not unsubscribed; "
            "shipped with the 'purchased in last 24 hours' suppression.",
            icon="cart-x",
            build=cart_recovery,
            companions=(PURCHASED_24H,),
        ),
        Playbook(
            key="browse-intent",
            title="Browse intent tiers",
            summary="Three non-overlapping tiers for the last 7 days: viewed a product, added to cart, or started "
            "checkout, each without taking the next step.",
            icon="bar-chart-steps",
            build=browse_intent,
            companions=(PURCHASED_24H,),
            variants=(
                Variant("viewed", "Viewed"),
                Variant("added", "Added to cart"),
                Variant("checkout", "Started checkout"),
            ),
            variant_label="Tier",
        ),
        Playbook(
            key="replenishment",
            title="Replenishment",
            summary="The last order in a category was 25 to 45 days ago: time for the second purchase.",
            icon="arrow-repeat",
            build=replenishment,
            companions=(PURCHASED_24H,),
            variants=tuple(Variant(category, category.capitalize()) for category in CATEGORIES),
            variant_label="Category",
        ),
        Playbook(
            key="winback",
            title="Winback 90-180 days",
            summary="Last order 90 to 180 days ago, excluding anyone active in the last 7 days; discount "
            "creative, so VIPs are protected.",
            icon="hourglass-split",
            build=winback,
            companions=(PURCHASED_24H, VIP_PROTECT),
        ),
        Playbook(
            key="vip-protection",
            title="VIP protection",
            summary="A suppression of vip_tier gold and silver, to exclude from every discount audience.",
            icon="shield-check",
            build=vip_protection,
        ),
    )
}


def playbook_get(key: str) -> Playbook:
    """The playbook named ``key``; raises ``KeyError``."""
    return PLAYBOOKS[key]


def playbook_companions(playbook: Playbook, *, owner: str, today: dt.date) -> list[dict[str, Any]]:
    """The v1 objects of the audiences ``playbook`` relies on, in dependency order."""
    return [COMPANIONS[slug](owner, today, "") for slug in playbook.companions]


def _review(today: dt.date, days: int) -> str:
    return (today + dt.timedelta(days=days)).isoformat()

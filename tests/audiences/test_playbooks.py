"""Playbooks produce valid audiences, the cart recovery one is the spec's, and the tiers select who they say."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audience_ops.audiences.builder.playbooks import PLAYBOOKS, playbook_companions, playbook_get
from audience_ops.audiences.builder.tree import form_data_to_rule, rule_to_form_data
from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_import, audience_member_ids
from audience_ops.audiences.validation import validate_audience_payload
from tests.audiences.helpers import NOW, SPEC_EXAMPLE, make_profile, track

TODAY = dt.date(2026, 11, 28)
VARIANTS = [(key, variant.key) for key, playbook in PLAYBOOKS.items() for variant in playbook.variants] + [
    (key, "") for key, playbook in PLAYBOOKS.items() if not playbook.variants
]


def spec(slug: str) -> dict[str, Any]:
    return next(item for item in SPEC_EXAMPLE["audiences"] if item["slug"] == slug)


def without(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in keys}


@pytest.mark.parametrize(("key", "variant"), VARIANTS)
def test_every_playbook_with_its_companions_is_valid(key, variant):
    # given
    playbook = playbook_get(key)

    # when
    audience = playbook.audience(owner="maria", today=TODAY, variant=variant)
    companions = playbook_companions(playbook, owner="maria", today=TODAY)

    # then the validator finds nothing, with no audience in the database to lean on
    assert validate_audience_payload({"audiences": [*companions, audience]}, existing={}, usernames={"maria"}) == []
    assert audience["owner"] == "maria"
    assert audience["retire_on"] > TODAY.isoformat()


@pytest.mark.parametrize(("key", "variant"), VARIANTS)
def test_every_playbook_opens_in_the_builder_unchanged(key, variant):
    rule = playbook_get(key).audience(owner="maria", today=TODAY, variant=variant)["rule"]
    result = form_data_to_rule(rule_to_form_data(rule))
    assert (result.rule, result.problems) == (rule, [])


def test_cart_recovery_is_the_spec_cart_abandoner_example():
    audience = playbook_get("cart-recovery").audience(owner="ada", today=TODAY)

    assert without(audience, "owner", "retire_on") == without(spec("cart-abandoners-3d"), "owner", "retire_on")
    assert (audience["owner"], audience["retire_on"]) == ("ada", "2027-02-26")


def test_cart_recovery_companion_is_the_spec_purchased_24h_suppression():
    (companion,) = playbook_companions(playbook_get("cart-recovery"), owner="ada", today=TODAY)

    assert without(companion, "owner", "retire_on", "offer") == without(spec("purchased-24h"), "owner", "retire_on")
    assert companion["offer"] == "none"


def test_coffee_replenishment_is_the_spec_example():
    audience = playbook_get("replenishment").audience(owner="maria", today=TODAY, variant="coffee")

    assert without(audience, "retire_on", "offer") == without(spec("coffee-replenish"), "retire_on")


def test_unknown_variant_is_refused():
    with pytest.raises(KeyError):
        playbook_get("browse-intent").audience(owner="maria", today=TODAY, variant="bought")


def import_playbooks(*entries: tuple[str, str]) -> None:
    audiences: dict[str, dict[str, Any]] = {}
    for key, variant in entries:
        playbook = playbook_get(key)
        for companion in playbook_companions(playbook, owner="maria", today=TODAY):
            audiences[companion["slug"]] = companion
        audience = playbook.audience(owner="maria", today=TODAY, variant=variant)
        audiences[audience["slug"]] = audience
    result = audience_import(payload={"audiences": list(audiences.values())})
    assert result.problems == []


def members(slug: str) -> set[int]:
    return set(audience_member_ids(audience=Audience.objects.get(slug=slug), now=NOW))


def test_browse_tiers_do_not_overlap(marketer):
    # given shoppers who stopped at each step of the funnel, and one who bought
    import_playbooks(("browse-intent", "viewed"), ("browse-intent", "added"), ("browse-intent", "checkout"))
    day = dt.timedelta(days=1)
    viewer, adder, starter, buyer, old = (make_profile(external_id=name) for name in ("v", "a", "s", "b", "o"))
    steps = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
    for profile, reached in ((viewer, 1), (adder, 2), (starter, 3), (buyer, 4)):
        for name in steps[:reached]:
            track(profile, name, NOW - 2 * day)
    track(old, "Product Viewed", NOW - 8 * day)

    # then each lands in exactly its own tier, and the buyer and the old visit in none
    assert members("browse-viewed-7d") == {viewer.pk}
    assert members("browse-added-7d") == {adder.pk}
    assert members("browse-checkout-7d") == {starter.pk}


def test_winback_keeps_lapsed_buyers_and_drops_the_active_and_vips(marketer):
    # given
    import_playbooks(("winback", ""), ("vip-protection", ""))
    lapsed = make_profile(external_id="lapsed", traits={"vip_tier": "none"})
    browsing = make_profile(external_id="browsing")
    vip = make_profile(external_id="vip", traits={"vip_tier": "gold"})
    recent = make_profile(external_id="recent")
    for profile in (lapsed, browsing, vip):
        track(profile, "Order Completed", NOW - dt.timedelta(days=120))
    track(browsing, "Page Viewed", NOW - dt.timedelta(days=2))
    track(recent, "Order Completed", NOW - dt.timedelta(days=120))
    track(recent, "Order Completed", NOW - dt.timedelta(days=30))

    # then
    assert members("lapsed-90-180d") == {lapsed.pk}
    assert members("vip-protect") == {vip.pk}


def test_replenishment_finds_buyers_whose_last_order_in_the_category_is_due(marketer):
    import_playbooks(("replenishment", "skincare"))
    due = make_profile(external_id="due")
    reordered = make_profile(external_id="reordered")
    other_category = make_profile(external_id="coffee-only")
    track(due, "Order Completed", NOW - dt.timedelta(days=30), category="skincare")
    track(reordered, "Order Completed", NOW - dt.timedelta(days=30), category="skincare")
    track(reordered, "Order Completed", NOW - dt.timedelta(days=3), category="skincare")
    track(other_category, "Order Completed", NOW - dt.timedelta(days=30), category="coffee")

    assert members("skincare-replenish") == {due.pk}

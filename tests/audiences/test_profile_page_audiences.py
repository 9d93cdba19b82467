"""The profile page lists the audiences the profile is in, with a link to the "why" trace."""

import datetime as dt

import pytest

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate, audience_import
from audience_ops.customers.models import Profile

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)


def _vip_audience(owner_username: str) -> Audience:
    result = audience_import(
        payload={
            "slug": "vip-gold",
            "name": "Gold VIPs",
            "kind": "targeting",
            "objective": "analytics",
            "owner": owner_username,
            "purpose": "Journey state for gold VIPs",
            "retire_on": "2027-06-30",
            "rule": {"attribute": "vip_tier", "op": "eq", "value": "gold"},
        }
    )
    assert not result.problems
    return Audience.objects.get(slug="vip-gold")


def test_profile_page_lists_the_audiences_the_profile_is_in(marketer, marketer_client):
    # given a gold VIP and a silver one, and an evaluated VIP audience
    gold = Profile.objects.create(external_id="cus_gold", traits={"vip_tier": "gold"})
    silver = Profile.objects.create(external_id="cus_silver", traits={"vip_tier": "silver"})
    audience_evaluate(audience=_vip_audience(marketer.username), now=NOW)

    # when the marketer opens each profile
    gold_page = marketer_client.get(gold.get_absolute_url()).content.decode()
    silver_page = marketer_client.get(silver.get_absolute_url()).content.decode()

    # then only the gold VIP's page lists the audience, with a link to why they are in
    assert "Gold VIPs" in gold_page
    assert f"/audiences/vip-gold/why/?profile={gold.pk}" in gold_page
    assert "Gold VIPs" not in silver_page
    assert "Not a member of any audience" in silver_page

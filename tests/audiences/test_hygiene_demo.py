"""The chapter 6 demo data fills Ada's retirement queue and the collision report."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.hygiene import NEAR_DUPLICATE, PAST_RETIRE_ON, offer_collisions, retirement_queue
from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate
from audience_ops.core.demo_hygiene import load_demo_hygiene
from tests.audiences.helpers import SPEC_EXAMPLE, create_audiences, make_profile, track

pytestmark = pytest.mark.django_db


def test_demo_hygiene_puts_an_overdue_audience_near_duplicates_and_a_collision_in_front_of_ada(users):
    now = timezone.now()
    shopper = make_profile(external_id="shopper")
    track(shopper, "Product Added", now - dt.timedelta(days=1))
    coffee = make_profile(external_id="coffee")
    for days in (2, 5):
        track(coffee, "Product Viewed", now - dt.timedelta(days=days), category="coffee")
    track(coffee, "Order Completed", now - dt.timedelta(days=20), category="coffee")
    suppression, cart, _coffee = create_audiences(*SPEC_EXAMPLE["audiences"])
    for audience in (suppression, cart):
        Audience.objects.filter(pk=audience.pk).update(
            status=AudienceStatus.LIVE, live_version=audience.versions.order_by("-number").first()
        )
        audience_evaluate(audience=audience, now=now)

    load_demo_hygiene(stdout=io.StringIO(), now=now)
    load_demo_hygiene(stdout=io.StringIO(), now=now)  # a second start-up adds nothing

    assert Audience.objects.filter(slug__in=["summer-spf-promo", "coffee-lovers", "coffee-fans"]).count() == 3
    queue = {candidate.audience.slug: candidate.codes for candidate in retirement_queue(now=now)}
    assert queue["summer-spf-promo"] == [PAST_RETIRE_ON]
    assert queue["coffee-lovers"] == [NEAR_DUPLICATE] and queue["coffee-fans"] == [NEAR_DUPLICATE]
    collisions = [(c.discount.slug, c.full_price.slug, c.sample_profile_ids) for c in offer_collisions()]
    assert collisions == [("cart-discount-10", "cart-abandoners-3d", [shopper.pk])]

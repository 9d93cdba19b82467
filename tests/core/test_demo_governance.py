"""The demo's chapter 3: QA test profiles, QA runs, Maria's submissions and Omar's approvals at start-up."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from audience_ops.audiences.lifecycle import audience_approve
from audience_ops.audiences.models import Audience, QATestProfile, VersionReview
from audience_ops.audit.models import AuditEvent
from audience_ops.core.demo_audiences import load_demo_audiences
from audience_ops.core.demo_users import ensure_demo_users

pytestmark = pytest.mark.django_db


def test_demo_launches_the_cart_pair_and_leaves_one_audience_in_review():
    # given the demo data and users, as `manage.py demo` loads them on the first start
    call_command("seed_demo", profiles=40, stdout=StringIO())
    ensure_demo_users()
    out = StringIO()
    load_demo_audiences(stdout=out)
    # then the six QA profiles carry their story names
    assert set(QATestProfile.objects.values_list("name", flat=True)) == {
        "recent purchaser",
        "cart abandoner",
        "suppressed user",
        "anonymous-to-known converter",
        "refunder",
        "gold VIP",
    }
    # the suppression and the cart abandoners are live, approved by omar after maria submitted them
    status = dict(Audience.objects.values_list("slug", "status"))
    assert status["purchased-24h"] == "live" and status["cart-abandoners-3d"] == "live"
    for slug in ("purchased-24h", "cart-abandoners-3d"):
        review = VersionReview.objects.get(version__audience__slug=slug)
        assert (review.state, review.submitted_by.username, review.decided_by.username) == ("approved", "maria", "omar")
        assert review.qa_run.passed and len(review.qa_run.results) >= 4
    launches = AuditEvent.objects.filter(action="audience.approve").order_by("id")
    assert [event.object_repr for event in launches] == [
        "Purchased in last 24 hours",
        "Cart abandoners, last 3 days",
        "Gold VIPs",
    ]
    # one audience waits for omar, and he can approve it
    assert status["coffee-replenish"] == "in_review"
    coffee = Audience.objects.get(slug="coffee-replenish")
    audience_approve(actor=get_user_model().objects.get(username="omar"), audience=coffee)
    assert Audience.objects.get(slug="coffee-replenish").status == "live"
    # the VIP tier goes live for the analytics journey; the others stay drafts
    assert status["vip-gold"] == "live"
    assert status["lapsed-90-180"] == "draft"
    assert "cart-abandoners-3d: QA 4 cases passed, live" in out.getvalue()
    assert "vip-gold: QA 4 cases passed, live" in out.getvalue()

"""The demo's audiences (chapters 2 and 3 of the demo story), imported once and evaluated at start-up.

On the first start the demo also plays chapter 3 through the same services a user would: the six named QA
profiles become the QA test profile library, Maria runs QA on "Purchased in last 24 hours" and "Cart
abandoners, last 3 days" and submits them, Omar approves them (the suppression first, as the paired
suppression rule requires), and "Second coffee purchase due" is left in review for Omar to try.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from audience_ops.audiences.lifecycle import audience_approve, audience_submit
from audience_ops.audiences.models import Audience, QATestProfile
from audience_ops.audiences.qa import qa_run, qa_test_profile_create
from audience_ops.audiences.services import audience_evaluate, audience_import
from audience_ops.customers import demo_data
from audience_ops.customers.models import Profile

DEMO_AUDIENCES = Path(__file__).with_name("demo_audiences.json")

# The QA profiles seed_demo creates, by the names the demo story gives them.
QA_TEST_PROFILES: tuple[tuple[str, str, str], ...] = (
    (demo_data.QA_RECENT_PURCHASER, "recent purchaser", "Ordered SPF 50 two hours before the data's now."),
    (demo_data.QA_CART_ABANDONER, "cart abandoner", "Added the serum to cart a day ago; no order in 10 days."),
    (demo_data.QA_SUPPRESSED, "suppressed user", "Same cart as the abandoner, but unsubscribed."),
    (
        demo_data.QA_CONVERTER,
        "anonymous-to-known converter",
        "Added collagen to cart while anonymous, then signed up: one profile with the whole history.",
    ),
    (demo_data.QA_REFUNDER, "refunder", "Ordered 20 days ago and refunded 15 days ago."),
    (demo_data.QA_VIP, "gold VIP", "Gold tier coffee replenisher; last order (coffee) 30 days ago."),
)
# Launched at start-up, in this order (a paired suppression goes live before its targeting audience).
LAUNCHED = ("purchased-24h", "cart-abandoners-3d", "vip-gold")
# Submitted and left for Omar to review.
IN_REVIEW = ("coffee-replenish",)


def load_demo_audiences(*, stdout: TextIO, evaluate: bool = True) -> None:
    """Import the demo audiences when none exist yet, then evaluate every one of them at the current time.

    ``evaluate=False`` leaves the evaluations to the simulated history (chapter 5), which must evaluate in
    the past first: an audience is never evaluated at a time before its last evaluation.
    """
    if not Audience.objects.exists():
        result = audience_import(payload=json.loads(DEMO_AUDIENCES.read_text()))
        if result.problems:
            raise RuntimeError("demo audiences are invalid: " + "; ".join(str(p) for p in result.problems))
        play_approvals(stdout=stdout)
    if not evaluate:
        return
    now = timezone.now()
    for audience in Audience.objects.exclude(status="retired").order_by("slug"):
        snapshot = audience_evaluate(audience=audience, now=now)
        stdout.write(f"  {audience.slug}: {snapshot.size} members")


def play_approvals(*, stdout: TextIO) -> None:
    """Chapter 3: the QA library, QA runs, Maria's submissions and Omar's approvals, as the demo users.

    A step the rules refuse (for example QA profiles missing from a custom data set) is reported and skipped
    rather than stopping the demo.
    """
    users = get_user_model().objects.in_bulk(["maria", "omar"], field_name="username")
    maria, omar = users.get("maria"), users.get("omar")
    if maria is None or omar is None:
        stdout.write("  (demo users missing: audiences left as drafts)")
        return
    profiles = Profile.objects.in_bulk(
        [external_id for external_id, _, _ in QA_TEST_PROFILES], field_name="external_id"
    )
    for external_id, name, description in QA_TEST_PROFILES:
        profile = profiles.get(external_id)
        if profile is not None and not QATestProfile.objects.filter(profile=profile).exists():
            qa_test_profile_create(actor=maria, profile=profile, name=name, description=description)
    now = timezone.now()
    for slug in (*LAUNCHED, *IN_REVIEW):
        audience = Audience.objects.get(slug=slug)
        try:
            run = qa_run(actor=maria, audience=audience, now=now)
            audience_submit(actor=maria, audience=audience)
            if slug in LAUNCHED:
                audience_approve(actor=omar, audience=audience, now=now)
        except ValidationError as exc:
            stdout.write(f"  {slug}: left as is ({'; '.join(exc.messages)})")
            continue
        state = "live" if slug in LAUNCHED else "in review"
        stdout.write(f"  {slug}: QA {len(run.results)} cases passed, {state}")

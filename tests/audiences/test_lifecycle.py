"""The audience lifecycle: the submission gate, four-eyes approval, the paired-suppression rule, scheduled
launches, pause/resume/retire, the status signal and the audit trail of every step."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied

from audience_ops.audiences import lifecycle
from audience_ops.audiences.choices import ReviewState
from audience_ops.audiences.jobs import evaluate_live_audiences, launch_due_audiences
from audience_ops.audiences.lifecycle import (
    LifecycleError,
    audience_approve,
    audience_launch_due,
    audience_pause,
    audience_reject,
    audience_resume,
    audience_retire,
    audience_submit,
    submission_problems,
)
from audience_ops.audiences.models import Audience, VersionReview
from audience_ops.audiences.qa import qa_cases_save, qa_run
from audience_ops.audiences.services import audience_evaluate, audience_import, audience_member_ids
from audience_ops.audiences.signals import audience_status_changed
from audience_ops.audit.models import AuditEvent

from .governance import CART_QA, DAY, HOUR, SUPPRESSION_QA, cart_dict, fresh, make_live, submit_ready, suppression_dict
from .helpers import NOW

pytestmark = pytest.mark.django_db


def messages(excinfo) -> str:
    return " | ".join(excinfo.value.messages)


def events(audience: Audience, action: str) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_id=str(audience.pk), action=action, object_content_type__model="audience")
    )


# --- the happy path ----------------------------------------------------------------------------------------


def test_submit_then_approve_makes_the_version_live_with_an_audit_trail(pair, people):
    suppression, cart = pair
    # given the suppression is live
    make_live(suppression, by=people["maria"], approver=people["omar"])
    # when maria submits the cart abandoners with a passing QA run
    review = submit_ready(cart, by=people["maria"])
    # then the audience is in review and nothing is live yet
    cart = fresh(cart)
    assert (cart.status, cart.live_version_id) == ("in_review", None)
    assert review.state == ReviewState.PENDING and review.qa_run.passed
    # when omar approves it
    audience_approve(actor=people["omar"], audience=cart, now=NOW)
    # then version 1 is live and both steps are in the audit log with before/after
    cart = fresh(cart)
    assert cart.status == "live" and cart.live_version.number == 1
    (submit,) = events(cart, "audience.submit")
    assert submit.changes["status"] == ["draft", "in_review"]
    (approve,) = events(cart, "audience.approve")
    assert approve.actor == people["omar"]
    assert approve.changes["status"] == ["in_review", "live"]
    assert approve.changes["live_version"] == [None, cart.live_version_id]
    review.refresh_from_db()
    assert review.state == ReviewState.APPROVED and review.launched_at == NOW and review.decided_by == people["omar"]


# --- four eyes and roles -----------------------------------------------------------------------------------


def test_the_author_cannot_approve_their_own_version(pair, people):
    suppression, _cart = pair
    # given version 2 was written by omar (an ops user, at the command line) and mark owns the audience
    audience_import(payload=changed_suppression(owner="mark"), actor_or_username="omar")
    suppression = fresh(suppression)
    assert suppression.versions.get(number=2).author == people["omar"]
    submit_ready(suppression, by=people["mark"])
    # when omar tries to approve it
    with pytest.raises(LifecycleError) as excinfo:
        audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    # then he is refused with a sentence naming the four-eyes rule, and nothing changed
    assert "You wrote version 2 of Purchased in last 24 hours" in messages(excinfo)
    assert "four-eyes" in messages(excinfo)
    assert fresh(suppression).live_version_id is None
    assert not AuditEvent.objects.filter(action="audience.approve").exists()
    # and olga (another ops user, neither author nor owner) can
    audience_approve(actor=people["olga"], audience=suppression, now=NOW)
    assert fresh(suppression).live_version.number == 2


def changed_suppression(**extra):
    """The suppression with a 36-hour window (a definition change, so a new version), and ``extra`` fields."""
    return suppression_dict(rule={"event": "Order Completed", "within": {"hours": 36}}, **extra)


def test_the_owner_cannot_approve(pair, people):
    suppression, _cart = pair
    # given the suppression is owned by omar (an ops user) but version 2 was written by maria
    audience_import(payload=changed_suppression(owner="omar"), actor_or_username="maria")
    submit_ready(suppression, by=people["maria"])
    # when omar approves
    with pytest.raises(LifecycleError) as excinfo:
        audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    # then he is refused as the owner
    assert "You own Purchased in last 24 hours" in messages(excinfo)
    assert fresh(suppression).status == "in_review"


def test_a_marketer_cannot_approve_or_reject(pair, people):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    with pytest.raises(PermissionDenied):
        audience_approve(actor=people["mark"], audience=suppression, now=NOW)
    with pytest.raises(PermissionDenied):
        audience_reject(actor=people["mark"], audience=suppression, reason="no")
    # admins hold change but not approve
    with pytest.raises(PermissionDenied):
        audience_approve(actor=people["ada"], audience=suppression, now=NOW)
    assert fresh(suppression).status == "in_review"


def test_ops_cannot_submit_and_only_operators_pause_and_only_admins_retire(pair, people):
    suppression, _cart = pair
    qa_run(actor=people["maria"], audience=suppression, now=NOW)
    with pytest.raises(PermissionDenied):
        audience_submit(actor=people["omar"], audience=suppression)
    suppression = make_live(suppression, by=people["maria"], approver=people["omar"])
    with pytest.raises(PermissionDenied):
        audience_pause(actor=people["maria"], audience=suppression)
    with pytest.raises(PermissionDenied):
        audience_retire(actor=people["omar"], audience=suppression)
    audience_pause(actor=people["ada"], audience=suppression)
    assert fresh(suppression).status == "paused"


# --- rejection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejection_needs_a_reason(pair, people, reason):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    with pytest.raises(LifecycleError) as excinfo:
        audience_reject(actor=people["omar"], audience=suppression, reason=reason)
    assert "needs a reason" in messages(excinfo)
    assert VersionReview.objects.get().state == ReviewState.PENDING


def test_rejection_sends_a_first_submission_back_to_draft_with_the_reason(pair, people):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    review = audience_reject(actor=people["omar"], audience=suppression, reason="Window should be 48 hours")
    assert fresh(suppression).status == "draft"
    review.refresh_from_db()
    assert (review.state, review.reason, review.decided_by) == ("rejected", "Window should be 48 hours", people["omar"])
    (event,) = events(suppression, "audience.reject")
    assert event.reason == "Window should be 48 hours"
    assert event.changes["status"] == ["in_review", "draft"]


def test_rejecting_a_change_to_a_live_audience_keeps_it_live(pair, people):
    suppression, _cart = pair
    suppression = make_live(suppression, by=people["maria"], approver=people["omar"])
    qa_cases_save(actor=people["maria"], audience=suppression, cases=suppression_cases_plus_one())
    submit_ready(suppression, by=people["maria"])
    audience_reject(actor=people["omar"], audience=suppression, reason="The extra case is redundant")
    suppression = fresh(suppression)
    assert suppression.status == "live" and suppression.live_version.number == 1


def suppression_cases_plus_one():
    return [*SUPPRESSION_QA, {"profile": "qa-suppressed", "expect": "out", "note": "twice"}]


# --- the submission gate, one item at a time ---------------------------------------------------------------


def test_a_ready_audience_has_no_submission_problems(pair, people):
    suppression, _cart = pair
    qa_run(actor=people["maria"], audience=suppression, now=NOW)
    assert submission_problems(audience=suppression, today=dt.date(2026, 11, 28)) == []


def test_gate_needs_an_active_owner(pair, people):
    suppression, _cart = pair
    qa_run(actor=people["maria"], audience=suppression, now=NOW)
    people["maria"].is_active = False
    people["maria"].save()
    assert submission_problems(audience=fresh(suppression)) == [
        "the owner (maria) is no longer active; hand it to an active owner"
    ]


def test_gate_needs_a_purpose(pair, people):
    suppression, _cart = pair
    qa_run(actor=people["maria"], audience=suppression, now=NOW)
    Audience.objects.filter(pk=suppression.pk).update(purpose="  ")
    problems = submission_problems(audience=fresh(suppression))
    assert problems == ["needs a purpose: why it exists and which message or offer it maps to"]
    with pytest.raises(LifecycleError) as excinfo:
        audience_submit(actor=people["maria"], audience=fresh(suppression))
    assert "cannot be submitted: needs a purpose" in messages(excinfo)
    assert not VersionReview.objects.exists()


def test_gate_needs_a_retirement_date_in_the_future(pair, people):
    suppression, _cart = pair
    qa_run(actor=people["maria"], audience=suppression, now=NOW)
    assert submission_problems(audience=suppression, today=dt.date(2027, 6, 29)) == []
    assert submission_problems(audience=suppression, today=dt.date(2027, 6, 30)) == [
        "its retirement date (2027-06-30) must be in the future"
    ]


def test_gate_needs_a_paired_suppression_for_targeting_ads(pair, people):
    _suppression, cart = pair
    # given a version without a paired suppression (written before the rule, straight into the table)
    from audience_ops.audiences.models import AudienceVersion

    latest = cart.versions.get()
    AudienceVersion.objects.create(
        audience=cart, number=2, rule=latest.rule, exclude=[], paired_suppression=None, qa=CART_QA,
        author=people["maria"],
    )  # fmt: skip
    qa_run(actor=people["maria"], audience=cart, now=NOW)
    assert "a targeting ads audience needs a paired suppression" in submission_problems(audience=cart)


def test_gate_asks_for_qa(pair, people):
    suppression, _cart = pair
    # no run yet
    assert submission_problems(audience=suppression) == ["no QA run of version 1"]
    # too few cases, none expected in: a new version 2
    qa_cases_save(actor=people["maria"], audience=suppression, cases=[{"profile": "qa-suppressed", "expect": "out"}])
    assert submission_problems(audience=fresh(suppression)) == [
        "needs at least 4 QA cases (has 1)",
        "needs a case expected in",
        "no QA run of version 2",
    ]


def test_gate_refuses_a_failed_run(pair, people):
    suppression, _cart = pair
    cases = [*suppression_cases_plus_one()[:4], {"profile": "qa-cart-abandoner", "expect": "in"}]
    qa_cases_save(actor=people["maria"], audience=suppression, cases=cases)
    run = qa_run(actor=people["maria"], audience=suppression, now=NOW)
    assert not run.passed
    assert submission_problems(audience=fresh(suppression)) == ["last QA run failed (1 of 5 cases)"]


def test_gate_refuses_a_second_submission_and_a_live_version_and_retired_audiences(pair, people):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    assert submission_problems(audience=fresh(suppression)) == ["version 1 is already pending review"]
    audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    assert submission_problems(audience=fresh(suppression)) == ["latest version is already live (version 1)"]
    Audience.objects.filter(pk=suppression.pk).update(status="retired")
    assert submission_problems(audience=fresh(suppression)) == ["retired audiences cannot be submitted"]


# --- the paired suppression rule ---------------------------------------------------------------------------


def test_a_targeting_ads_audience_cannot_go_live_before_its_paired_suppression(pair, people):
    suppression, cart = pair
    submit_ready(cart, by=people["maria"])
    with pytest.raises(LifecycleError) as excinfo:
        audience_approve(actor=people["omar"], audience=cart, now=NOW)
    assert "its paired suppression Purchased in last 24 hours is live (it is draft)" in messages(excinfo)
    assert fresh(cart).status == "in_review"
    # once the suppression is live, the same approval goes through
    make_live(suppression, by=people["maria"], approver=people["omar"])
    audience_approve(actor=people["omar"], audience=cart, now=NOW)
    assert fresh(cart).status == "live"


def test_a_live_suppression_cannot_be_paused_or_retired_under_a_live_targeting_audience(pair, people):
    suppression, cart = pair
    suppression = make_live(suppression, by=people["maria"], approver=people["omar"])
    cart = make_live(cart, by=people["maria"], approver=people["omar"])
    with pytest.raises(LifecycleError) as excinfo:
        audience_pause(actor=people["omar"], audience=suppression)
    assert "paired suppression of live audiences (Cart abandoners, last 3 days)" in messages(excinfo)
    with pytest.raises(LifecycleError):
        audience_retire(actor=people["ada"], audience=suppression)
    # pausing the targeting audience first makes pausing the suppression possible; resuming the targeting
    # audience then waits for the suppression
    audience_pause(actor=people["omar"], audience=cart)
    audience_pause(actor=people["omar"], audience=suppression)
    with pytest.raises(LifecycleError) as excinfo:
        audience_resume(actor=people["omar"], audience=fresh(cart))
    assert "can only go live when its paired suppression" in messages(excinfo)


# --- scheduled launches ------------------------------------------------------------------------------------


def test_approval_with_a_future_launch_time_waits_then_launches(pair, people):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    review = audience_approve(actor=people["omar"], audience=suppression, launch_at=NOW + 2 * HOUR, now=NOW)
    suppression = fresh(suppression)
    assert (suppression.status, suppression.live_version_id) == ("approved", None)
    # nothing is due an hour later
    assert audience_launch_due(now=NOW + HOUR) == []
    assert fresh(suppression).status == "approved"
    # at launch time it goes live, audited by the system
    assert audience_launch_due(now=NOW + 2 * HOUR) == [suppression]
    suppression = fresh(suppression)
    assert suppression.status == "live" and suppression.live_version == review.version
    (launch,) = events(suppression, "audience.launch")
    assert launch.actor is None and launch.actor_label == "system"
    assert launch.changes["status"] == ["approved", "live"]
    review.refresh_from_db()
    assert review.launched_at == NOW + 2 * HOUR
    # and a second tick launches nothing again
    assert audience_launch_due(now=NOW + 3 * HOUR) == []


def test_scheduled_pair_launches_suppression_first(pair, people):
    suppression, cart = pair
    submit_ready(suppression, by=people["maria"])
    submit_ready(cart, by=people["maria"])
    # the suppression scheduled at 14:00 lets the targeting audience be scheduled at 14:00 too, not earlier
    audience_approve(actor=people["omar"], audience=suppression, launch_at=NOW + 2 * HOUR, now=NOW)
    with pytest.raises(LifecycleError):
        audience_approve(actor=people["omar"], audience=cart, launch_at=NOW + HOUR, now=NOW)
    audience_approve(actor=people["omar"], audience=cart, launch_at=NOW + 2 * HOUR, now=NOW)
    launched = audience_launch_due(now=NOW + 2 * HOUR)
    assert [audience.slug for audience in launched] == ["purchased-24h", "cart-abandoners-3d"]
    assert fresh(cart).status == "live"


def test_launch_job_uses_the_current_time(pair, people):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    audience_approve(actor=people["omar"], audience=suppression, launch_at=NOW + HOUR, now=NOW)
    # NOW is in the past of the real clock, so the job launches it
    assert launch_due_audiences() == [suppression.pk]


# --- changes to live audiences -----------------------------------------------------------------------------


def test_a_change_to_a_live_audience_keeps_the_old_version_live_until_approved(pair, people):
    suppression, cart = pair
    make_live(suppression, by=people["maria"], approver=people["omar"])
    cart = make_live(cart, by=people["maria"], approver=people["omar"])
    # when maria imports a changed rule (48 hours instead of 3 days)
    changed = cart_dict()
    changed["rule"]["all"][0]["within"] = {"hours": 48}
    audience_import(payload=changed, actor_or_username="maria")
    cart = fresh(cart)
    # then version 2 exists but version 1 stays live, status unchanged, and evaluation uses version 1
    assert cart.versions.count() == 2
    assert (cart.status, cart.live_version.number) == ("live", 1)
    members = set(audience_member_ids(audience=cart, now=NOW))
    assert len(members) == 2  # the abandoner (1 day) and the converter (45 hours)
    # the new version needs its own QA and review; submitting keeps the status live
    submit_ready(cart, by=people["maria"])
    assert fresh(cart).status == "live"
    audience_approve(actor=people["omar"], audience=cart, now=NOW)
    cart = fresh(cart)
    assert (cart.status, cart.live_version.number) == ("live", 2)


def test_a_review_is_refused_when_qa_no_longer_passes(pair, people):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    # a later QA run of the same version (at a time when the purchase is older than 24 hours) fails
    assert not qa_run(actor=people["maria"], audience=suppression, now=NOW + 2 * DAY).passed
    with pytest.raises(LifecycleError) as excinfo:
        audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    assert "QA must pass again" in messages(excinfo)


def test_submitting_a_newer_version_withdraws_the_older_pending_review(pair, people):
    suppression, _cart = pair
    first = submit_ready(suppression, by=people["maria"])
    qa_cases_save(actor=people["maria"], audience=suppression, cases=suppression_cases_plus_one())
    # the pending review of version 1 cannot be approved any more: version 2 superseded it
    with pytest.raises(LifecycleError) as excinfo:
        audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    assert "superseded by version 2" in messages(excinfo)
    second = submit_ready(fresh(suppression), by=people["maria"])
    first.refresh_from_db()
    assert first.state == ReviewState.WITHDRAWN
    assert second.version.number == 2


# --- pause, resume, retire ---------------------------------------------------------------------------------


def test_pause_resume_retire_and_the_status_signal(pair, people, django_capture_on_commit_callbacks):
    vip = audience_import(
        payload={**cart_dict(slug="vip", objective="analytics", kind="targeting"), "paired_suppression": None},
        actor_or_username="maria",
    )
    assert vip.ok, vip.problems
    vip = Audience.objects.get(slug="vip")
    vip = make_live(vip, by=people["maria"], approver=people["omar"])
    seen = []

    def receiver(sender, audience, before, after, actor, **kwargs):
        seen.append((audience.slug, before, after, actor.username if actor else None))

    audience_status_changed.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            audience_pause(actor=people["omar"], audience=vip, reason="creative refresh")
        with pytest.raises(LifecycleError):
            audience_pause(actor=people["omar"], audience=fresh(vip))
        with django_capture_on_commit_callbacks(execute=True):
            audience_resume(actor=people["omar"], audience=fresh(vip))
        with django_capture_on_commit_callbacks(execute=True):
            audience_retire(actor=people["ada"], audience=fresh(vip), reason="campaign over")
    finally:
        audience_status_changed.disconnect(receiver)
    assert seen == [
        ("vip", "live", "paused", "omar"),
        ("vip", "paused", "live", "omar"),
        ("vip", "live", "retired", "ada"),
    ]
    (pause,) = events(vip, "audience.pause")
    assert pause.reason == "creative refresh" and pause.changes == {"status": ["live", "paused"]}
    with pytest.raises(LifecycleError) as excinfo:
        audience_retire(actor=people["ada"], audience=fresh(vip))
    assert "already retired" in messages(excinfo)
    with pytest.raises(LifecycleError):
        audience_resume(actor=people["omar"], audience=fresh(vip))


def test_retiring_withdraws_open_reviews(pair, people):
    suppression, _cart = pair
    review = submit_ready(suppression, by=people["maria"])
    audience_retire(actor=people["ada"], audience=suppression, reason="not needed")
    review.refresh_from_db()
    assert review.state == ReviewState.WITHDRAWN
    assert fresh(suppression).status == "retired"
    with pytest.raises(LifecycleError) as excinfo:
        audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    assert "no version pending review" in messages(excinfo)


def test_the_schedule_evaluates_live_audiences_only(pair, people, rq_queues):
    suppression, cart = pair
    suppression = make_live(suppression, by=people["maria"], approver=people["omar"])
    cart = make_live(cart, by=people["maria"], approver=people["omar"])
    audience_pause(actor=people["omar"], audience=cart)
    assert evaluate_live_audiences() == [suppression.pk]
    # evaluating a paused audience by hand still works (it is the schedule that skips it)
    snapshot = audience_evaluate(audience=fresh(cart), now=NOW)
    assert snapshot.size == 2 and snapshot.version == fresh(cart).live_version


# --- audit rollback ----------------------------------------------------------------------------------------


def test_a_failed_step_writes_no_audit_event_and_changes_nothing(pair, people, monkeypatch):
    suppression, _cart = pair
    submit_ready(suppression, by=people["maria"])
    before = AuditEvent.objects.count()

    def explode(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(lifecycle, "audit_record", explode)
    with pytest.raises(RuntimeError):
        audience_approve(actor=people["omar"], audience=suppression, now=NOW)
    suppression = fresh(suppression)
    assert (suppression.status, suppression.live_version_id) == ("in_review", None)
    assert VersionReview.objects.get().state == ReviewState.PENDING
    assert AuditEvent.objects.count() == before

"""The audience lifecycle: submit for review, four-eyes approval, launch, pause, resume, retire.

::

    draft --submit--> in_review --approve--> live <--pause/resume--> paused
      ^                   |   \\--approve with a future launch_at--> approved --(launch time)--> live
      +------reject-------+
    any status except retired --retire--> retired

Statuses change only here (views and commands call these services; a view never sets a status itself). A
change to an approved, live or paused audience is a new version with its own review: the audience keeps its
status and its live version until the new version is approved. Every change is checked against the actor's
role, runs in one transaction with its audit event (before/after status and live version), and sends
:data:`~.signals.audience_status_changed` once committed when the status changed.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audience_ops.accounts.roles import ensure_permission
from audience_ops.audit.services import audit_record, model_snapshot

from . import selectors
from .choices import AudienceKind, AudienceObjective, AudienceStatus, ReviewState
from .models import Audience, AudienceVersion, VersionReview
from .qa import qa_gate_problems, qa_latest_run
from .signals import audience_status_changed

logger = logging.getLogger(__name__)

LIFECYCLE_FIELDS = ("status", "live_version")
# Statuses in which an audience's members are (or are about to be) delivered somewhere.
ACTIVE_STATUSES = (AudienceStatus.APPROVED, AudienceStatus.LIVE, AudienceStatus.PAUSED)


class LifecycleError(ValidationError):
    """A lifecycle step that is not allowed now, with sentences a marketer understands (``.messages``)."""


# --- submit ------------------------------------------------------------------------------------------------


def submission_problems(*, audience: Audience, today: dt.date | None = None) -> list[str]:
    """Everything that stops the latest version of ``audience`` from being submitted, as sentences.

    The gate: an active owner, a purpose, a ``retire_on`` in the future, a paired suppression for a targeting
    ads audience, the QA gate (:func:`~.qa.qa_gate_problems`), and nothing already pending, retired or live.
    Empty when the version can be submitted.
    """
    today = today or timezone.localdate()
    if audience.status == AudienceStatus.RETIRED:
        return ["retired audiences cannot be submitted"]
    version = selectors.audience_latest_version(audience=audience)
    if version is None:
        return ["the audience has no version yet"]
    problems = []
    owner = audience.owner
    if owner is None:
        problems.append("needs an owner")
    elif not owner.is_active:
        problems.append(f"the owner ({owner.get_username()}) is no longer active; hand it to an active owner")
    if not (audience.purpose or "").strip():
        problems.append("needs a purpose: why it exists and which message or offer it maps to")
    if audience.retire_on is None or audience.retire_on <= today:
        when = audience.retire_on.isoformat() if audience.retire_on else "empty"
        problems.append(f"its retirement date ({when}) must be in the future")
    if _needs_paired_suppression(audience) and not version.paired_suppression:
        problems.append("a targeting ads audience needs a paired suppression")
    if version.pk == audience.live_version_id:
        problems.append(f"latest version is already live (version {version.number})")
    if version.reviews.filter(state=ReviewState.PENDING).exists():
        problems.append(f"version {version.number} is already pending review")
    problems.extend(qa_gate_problems(version=version))
    return problems


@transaction.atomic
def audience_submit(*, actor: AbstractBaseUser, audience: Audience) -> VersionReview:
    """Ask for the latest version of ``audience`` to go live: a pending review pinned to its passing QA run.

    An audience without a live version moves to in review; an approved, live or paused audience keeps its
    status (the pending review of the new version is what shows). A pending review of an older version is
    withdrawn: it is superseded by this one.
    """
    _require_user(actor, "submit")
    ensure_permission(actor, "audiences.change_audience")
    audience = _lock(audience)
    problems = submission_problems(audience=audience)
    if problems:
        raise LifecycleError([f"{audience.name} cannot be submitted: {problem}" for problem in problems])
    version = selectors.audience_latest_version(audience=audience)
    before = _snapshot(audience)
    superseded = VersionReview.objects.filter(version__audience=audience, state=ReviewState.PENDING)
    for old in superseded:
        _withdraw(old, actor=actor, reason=f"superseded by version {version.number}")
    review = VersionReview.objects.create(
        version=version, qa_run=qa_latest_run(version=version), submitted_by=actor, submitted_at=timezone.now()
    )
    if audience.status == AudienceStatus.DRAFT:
        audience.status = AudienceStatus.IN_REVIEW
    _save_and_audit(audience, actor=actor, action="audience.submit", before=before, extra=_review_info(review))
    return review


# --- approve / reject / launch -----------------------------------------------------------------------------


@transaction.atomic
def audience_approve(
    *,
    actor: AbstractBaseUser,
    audience: Audience,
    launch_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> VersionReview:
    """Approve the pending review of ``audience`` (four eyes) and launch it now or at ``launch_at``.

    The approver holds ``audiences.approve_audience`` and is neither the version's author nor the audience's
    owner. The reviewed version must still be the latest, its latest QA run must still pass, and an audience
    with a paired suppression can only go live when that suppression is live (or, for a scheduled launch,
    approved to launch no later). A ``launch_at`` in the future leaves the audience approved until
    :func:`audience_launch_due` launches it; otherwise the version goes live now.
    """
    _require_user(actor, "approve")
    ensure_permission(actor, "audiences.approve_audience")
    now = now or timezone.now()
    audience = _lock(audience)
    review = _pending_review(audience)
    version = review.version
    if actor.pk == version.author_id:
        raise LifecycleError(
            f"You wrote version {version.number} of {audience.name}; someone else must approve it (four-eyes rule)."
        )
    if actor.pk == audience.owner_id:
        raise LifecycleError(f"You own {audience.name}; someone else must approve it (four-eyes rule).")
    latest = selectors.audience_latest_version(audience=audience)
    if latest is not None and latest.pk != version.pk:
        raise LifecycleError(
            f"Version {version.number} of {audience.name} was superseded by version {latest.number}; "
            "reject this review and review the latest version."
        )
    run = qa_latest_run(version=version)
    if run is None or not run.passed:
        raise LifecycleError(
            f"The last QA run of version {version.number} of {audience.name} no longer passes; "
            "QA must pass again before it can be approved."
        )
    scheduled = launch_at is not None and launch_at > now
    problem = _paired_suppression_problem(audience, version, launch_at=launch_at if scheduled else None)
    if problem:
        raise LifecycleError(problem)

    before = _snapshot(audience)
    review.state = ReviewState.APPROVED
    review.decided_by = actor
    review.decided_at = now
    review.launch_at = launch_at
    review.qa_run = run
    if scheduled:
        review.save(update_fields=["state", "decided_by", "decided_at", "launch_at", "qa_run"])
        if audience.status in (AudienceStatus.DRAFT, AudienceStatus.IN_REVIEW):
            audience.status = AudienceStatus.APPROVED
    else:
        review.launched_at = now
        review.save(update_fields=["state", "decided_by", "decided_at", "launch_at", "launched_at", "qa_run"])
        _make_live(audience, review, actor=actor)
    _save_and_audit(audience, actor=actor, action="audience.approve", before=before, extra=_review_info(review))
    return review


@transaction.atomic
def audience_reject(*, actor: AbstractBaseUser, audience: Audience, reason: str) -> VersionReview:
    """Reject the pending review of ``audience`` with a reason the author is shown.

    An audience that was waiting for its first approval goes back to draft; one with a live (or scheduled)
    version keeps its status and live version.
    """
    _require_user(actor, "reject")
    ensure_permission(actor, "audiences.approve_audience")
    reason = (reason or "").strip()
    if not reason:
        raise LifecycleError("A rejection needs a reason: the author is shown it so they can fix the audience.")
    audience = _lock(audience)
    review = _pending_review(audience)
    before = _snapshot(audience)
    review.state = ReviewState.REJECTED
    review.decided_by = actor
    review.decided_at = timezone.now()
    review.reason = reason
    review.save(update_fields=["state", "decided_by", "decided_at", "reason"])
    if audience.status == AudienceStatus.IN_REVIEW and audience.live_version_id is None:
        audience.status = AudienceStatus.DRAFT
    _save_and_audit(
        audience, actor=actor, action="audience.reject", before=before, reason=reason, extra=_review_info(review)
    )
    return review


def audience_launch_due(*, now: dt.datetime) -> list[Audience]:
    """Launch every approved review whose ``launch_at`` has come (suppressions first); returns the audiences.

    Run every minute by the scheduler. Each launch is its own transaction, audited as ``audience.launch`` by
    the system. A launch whose paired suppression is not live yet waits for a later tick; an approval
    overtaken by a newer live version is withdrawn.
    """
    due = (
        VersionReview.objects.filter(state=ReviewState.APPROVED, launched_at__isnull=True, launch_at__lte=now)
        .select_related("version__audience")
        .order_by("launch_at", "id")
    )
    # Suppressions first, so a pair due at the same minute goes live in the order the rule needs.
    reviews = sorted(due, key=lambda review: review.version.audience.kind != AudienceKind.SUPPRESSION)
    launched = []
    for review in reviews:
        audience = _launch_one(review_id=review.pk, now=now)
        if audience is not None:
            launched.append(audience)
    return launched


@transaction.atomic
def _launch_one(*, review_id: int, now: dt.datetime) -> Audience | None:
    review = VersionReview.objects.select_related("version").get(pk=review_id)
    audience = _lock(Audience(pk=review.version.audience_id))
    review = VersionReview.objects.select_for_update(of=("self",)).select_related("version").get(pk=review_id)
    if review.state != ReviewState.APPROVED or review.launched_at is not None:
        return None
    if audience.status == AudienceStatus.RETIRED:
        _withdraw(review, actor=None, reason="the audience was retired")
        return None
    live = audience.live_version
    if live is not None and live.number >= review.version.number:
        _withdraw(review, actor=None, reason=f"version {live.number} is already live")
        return None
    problem = _paired_suppression_problem(audience, review.version)
    if problem:
        logger.warning("launch of %s postponed: %s", review.version, problem)
        return None
    before = _snapshot(audience)
    review.launched_at = now
    review.save(update_fields=["launched_at"])
    _make_live(audience, review, actor=None)
    _save_and_audit(audience, actor=None, action="audience.launch", before=before, extra=_review_info(review))
    return audience


# --- operate -----------------------------------------------------------------------------------------------


@transaction.atomic
def audience_pause(*, actor: AbstractBaseUser | None, audience: Audience, reason: str = "") -> Audience:
    """Stop a live audience (its live version is kept; the schedule stops evaluating it). Live -> paused.

    A suppression cannot be paused while a live targeting audience relies on it: pause those first.
    """
    ensure_permission(actor, "audiences.operate_audience")
    audience = _lock(audience)
    if audience.status != AudienceStatus.LIVE:
        raise LifecycleError(f"Only live audiences can be paused; {audience.name} is {_status_text(audience)}.")
    dependants = _live_dependants(audience)
    if dependants:
        raise LifecycleError(
            f"{audience.name} is the paired suppression of live audiences ({_names(dependants)}); "
            "pause those first so nobody is shown ads they should be suppressed from."
        )
    before = _snapshot(audience)
    audience.status = AudienceStatus.PAUSED
    _save_and_audit(audience, actor=actor, action="audience.pause", before=before, reason=reason)
    return audience


@transaction.atomic
def audience_resume(*, actor: AbstractBaseUser | None, audience: Audience) -> Audience:
    """Put a paused audience back live (same live version). Paused -> live, if its paired suppression is live."""
    ensure_permission(actor, "audiences.operate_audience")
    audience = _lock(audience)
    if audience.status != AudienceStatus.PAUSED:
        raise LifecycleError(f"Only paused audiences can be resumed; {audience.name} is {_status_text(audience)}.")
    if audience.live_version_id is None:
        raise LifecycleError(f"{audience.name} has no approved version to resume; submit it for review.")
    problem = _paired_suppression_problem(audience, audience.live_version)
    if problem:
        raise LifecycleError(problem)
    before = _snapshot(audience)
    audience.status = AudienceStatus.LIVE
    _save_and_audit(audience, actor=actor, action="audience.resume", before=before)
    return audience


@transaction.atomic
def audience_retire(
    *,
    actor: AbstractBaseUser | None,
    audience: Audience,
    reason: str = "",
    sync_actions: dict[int, str] | None = None,
) -> Audience:
    """Retire an audience for good: any status except retired -> retired; open reviews are withdrawn.

    A suppression still paired with an approved, live or paused targeting audience cannot be retired (that
    would leave the targeting audience without its suppression): retire or change those first. Listeners of
    :data:`~.signals.audience_status_changed` pause and remove its syncs; ``sync_actions`` (sync id ->
    ``remove_members`` / ``delete_remote_audience`` / ``keep``) is the admin's choice per destination, passed
    on with the signal and recorded in the audit event (default: remove the members).
    """
    ensure_permission(actor, "audiences.retire_audience")
    audience = _lock(audience)
    if audience.status == AudienceStatus.RETIRED:
        raise LifecycleError(f"{audience.name} is already retired.")
    dependants = _live_dependants(audience, statuses=ACTIVE_STATUSES)
    if dependants:
        raise LifecycleError(
            f"{audience.name} is the paired suppression of {_names(dependants)}; retire or change those first."
        )
    before = _snapshot(audience)
    open_reviews = VersionReview.objects.filter(version__audience=audience).filter(
        state__in=(ReviewState.PENDING, ReviewState.APPROVED), launched_at__isnull=True
    )
    for review in open_reviews:
        _withdraw(review, actor=actor, reason="the audience was retired")
    audience.status = AudienceStatus.RETIRED
    actions = {int(sync_id): str(action) for sync_id, action in (sync_actions or {}).items()}
    _save_and_audit(
        audience,
        actor=actor,
        action="audience.retire",
        before=before,
        reason=reason,
        extra={"sync_actions": {str(k): v for k, v in actions.items()}} if actions else None,
        signal_extra={"sync_actions": actions},
    )
    return audience


# --- helpers -----------------------------------------------------------------------------------------------


def _require_user(actor: Any, what: str) -> None:
    if actor is None:
        raise LifecycleError(f"Someone must {what}: name the user (--by USER on the command line).")


def _lock(audience: Audience) -> Audience:
    return Audience.objects.select_for_update(of=("self",)).select_related("owner", "live_version").get(pk=audience.pk)


def _pending_review(audience: Audience) -> VersionReview:
    review = (
        VersionReview.objects.select_for_update(of=("self",))
        .filter(version__audience=audience, state=ReviewState.PENDING)
        .select_related("version")
        .order_by("-submitted_at", "-id")
        .first()
    )
    if review is None:
        raise LifecycleError(f"{audience.name} has no version pending review.")
    return review


def _needs_paired_suppression(audience: Audience) -> bool:
    return audience.kind == AudienceKind.TARGETING and audience.objective == AudienceObjective.ADS


def _paired_suppression_problem(
    audience: Audience, version: AudienceVersion, *, launch_at: dt.datetime | None = None
) -> str:
    """Why ``version`` may not go live because of its paired suppression ("" when it may).

    The suppression must be live (status live with a live version). For a launch scheduled at ``launch_at``
    it is also enough that the suppression is approved to launch at or before that time.
    """
    slug = version.paired_suppression
    if not slug:
        return ""
    paired = Audience.objects.filter(slug=slug).first()
    if paired is None:
        return f'{audience.name} is paired with "{slug}", which does not exist.'
    if paired.status == AudienceStatus.LIVE and paired.live_version_id is not None:
        return ""
    if launch_at is not None:
        scheduled = VersionReview.objects.filter(
            version__audience=paired,
            state=ReviewState.APPROVED,
            launched_at__isnull=True,
            launch_at__lte=launch_at,
        ).exists()
        if scheduled and paired.status != AudienceStatus.RETIRED:
            return ""
    return (
        f"{audience.name} can only go live when its paired suppression {paired.name} is live "
        f"(it is {_status_text(paired)}); approve and launch the suppression first."
    )


def _live_dependants(audience: Audience, statuses: Iterable[str] = (AudienceStatus.LIVE,)) -> list[Audience]:
    """Audiences in ``statuses`` whose live version uses ``audience`` as paired suppression."""
    if audience.kind != AudienceKind.SUPPRESSION:
        return []
    return list(
        Audience.objects.filter(status__in=list(statuses), live_version__paired_suppression=audience.slug)
        .exclude(pk=audience.pk)
        .order_by("name")
    )


def _make_live(audience: Audience, review: VersionReview, *, actor: AbstractBaseUser | None) -> None:
    """Point ``live_version`` at the reviewed version; a paused audience stays paused (resume is separate)."""
    audience.live_version = review.version
    if audience.status != AudienceStatus.PAUSED:
        audience.status = AudienceStatus.LIVE
    older = VersionReview.objects.filter(
        version__audience=audience, state=ReviewState.APPROVED, launched_at__isnull=True
    ).exclude(pk=review.pk)
    for other in older:
        _withdraw(other, actor=actor, reason=f"version {review.version.number} went live")


def _withdraw(review: VersionReview, *, actor: AbstractBaseUser | None, reason: str) -> None:
    review.state = ReviewState.WITHDRAWN
    review.reason = reason
    if review.decided_at is None:
        review.decided_at = timezone.now()
        review.decided_by = actor
    review.save(update_fields=["state", "reason", "decided_at", "decided_by"])


def _snapshot(audience: Audience) -> dict[str, Any]:
    return model_snapshot(audience, LIFECYCLE_FIELDS)


def _review_info(review: VersionReview) -> dict[str, Any]:
    return {"review": review.pk, "version": review.version.number, "launch_at": review.launch_at}


def _save_and_audit(
    audience: Audience,
    *,
    actor: AbstractBaseUser | None,
    action: str,
    before: dict[str, Any],
    reason: str = "",
    extra: dict[str, Any] | None = None,
    signal_extra: dict[str, Any] | None = None,
) -> None:
    """Save the lifecycle fields, write the audit event, and announce a status change once committed
    (``signal_extra``: more keyword arguments for the signal's listeners)."""
    audience.updated_at = timezone.now()
    audience.save(update_fields=["status", "live_version", "updated_at"])
    after = _snapshot(audience)
    audit_record(
        actor=actor,
        action=action,
        obj=audience,
        before=before,
        after={**after, **(extra or {})},
        reason=reason or "",
    )
    if before["status"] != after["status"]:
        old, new = before["status"], after["status"]
        more = dict(signal_extra or {})
        transaction.on_commit(
            lambda: audience_status_changed.send(
                sender=Audience, audience=audience, before=old, after=new, actor=actor, **more
            )
        )


def _status_text(audience: Audience) -> str:
    return AudienceStatus(audience.status).label.lower()


def _names(audiences: Iterable[Audience]) -> str:
    return ", ".join(audience.name for audience in audiences)

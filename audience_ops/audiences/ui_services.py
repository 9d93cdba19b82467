"""Actions the audience pages start: queue an evaluation on request ("Evaluate now").

The evaluation itself is :func:`~.jobs.evaluate_audience_job` (the same job the scheduler's tick queues), so a
button press and the schedule can never evaluate an audience in two different ways.
"""

from __future__ import annotations

from dataclasses import dataclass

import django_rq
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction

from audience_ops.accounts.roles import ensure_permission

from .choices import AudienceStatus
from .jobs import EVALUATION_QUEUE, evaluate_audience_job, evaluation_job_id
from .models import Audience

# RQ statuses of a job that has not finished yet: queueing the same audience again would evaluate it twice.
PENDING_STATUSES = ("queued", "started", "deferred", "scheduled")


@dataclass(frozen=True)
class EvaluationRequest:
    """The outcome of :func:`audience_evaluation_request`: the job id, and whether a new job was queued."""

    job_id: str
    queued: bool


def audience_evaluation_request(
    *, actor: AbstractBaseUser | AnonymousUser | None, audience: Audience
) -> EvaluationRequest:
    """Queue one evaluation of ``audience`` at the current time, once the surrounding transaction commits.

    Needs ``audiences.view_audience`` only: evaluating records sizes and membership history but changes
    nothing a destination receives, and every role may want fresh numbers before a review. Only live audiences
    can be queued, because the evaluation job (shared with the scheduler) evaluates live audiences only.

    When an evaluation of this audience is still queued or running, nothing new is queued (the job id is
    per audience) and ``queued`` is False.
    """
    ensure_permission(actor, "audiences.view_audience")
    if audience.status != AudienceStatus.LIVE:
        raise ValidationError(
            {"status": f"{audience.name} is {audience.get_status_display().lower()}; only live audiences are evaluated"}
        )
    queue = django_rq.get_queue(EVALUATION_QUEUE)
    job_id = evaluation_job_id(audience.pk)
    existing = queue.fetch_job(job_id)
    if existing is not None and existing.get_status(refresh=True) in PENDING_STATUSES:
        return EvaluationRequest(job_id=job_id, queued=False)
    transaction.on_commit(lambda: queue.enqueue(evaluate_audience_job, audience.pk, job_id=job_id))
    return EvaluationRequest(job_id=job_id, queued=True)

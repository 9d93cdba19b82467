"""Background jobs: the scheduler's tick enqueues one evaluation per live audience; each job calls a service.

Jobs take ids, not objects, so a queued job always works on the current row.
"""

from __future__ import annotations

import logging
from typing import Any

import django_rq
from django.utils import timezone

from .choices import AudienceStatus
from .models import Audience
from .services import audience_evaluate

logger = logging.getLogger(__name__)

EVALUATION_QUEUE = "evaluations"


def evaluation_job_id(audience_id: int) -> str:
    """One job id per audience, so a tick never queues a second evaluation while one is still waiting."""
    return f"audience-evaluate-{audience_id}"


def evaluate_live_audiences() -> list[int]:
    """Enqueue :func:`evaluate_audience_job` for every live audience; returns the ids enqueued.

    Registered in ``audience_ops/cron.py`` every ``AUDIENCE_EVALUATION_INTERVAL_SECONDS``. An audience whose
    previous evaluation is still queued or running is skipped rather than queued twice.
    """
    queue = django_rq.get_queue(EVALUATION_QUEUE)
    enqueued = []
    for audience_id in Audience.objects.filter(status=AudienceStatus.LIVE).order_by("pk").values_list("pk", flat=True):
        job_id = evaluation_job_id(audience_id)
        existing = queue.fetch_job(job_id)
        if existing is not None and existing.get_status(refresh=True) in ("queued", "started", "deferred", "scheduled"):
            logger.info("audience %s: previous evaluation still pending, not queued again", audience_id)
            continue
        queue.enqueue(evaluate_audience_job, audience_id, job_id=job_id)
        enqueued.append(audience_id)
    return enqueued


def evaluate_audience_job(audience_id: int) -> dict[str, Any]:
    """Evaluate one audience at the current time, if it still exists and is still live."""
    audience = Audience.objects.filter(pk=audience_id).first()
    if audience is None or audience.status != AudienceStatus.LIVE:
        return {"audience_id": audience_id, "skipped": "not live"}
    snapshot = audience_evaluate(audience=audience, now=timezone.now())
    return {
        "audience_id": audience_id,
        "evaluated_at": snapshot.evaluated_at.isoformat(),
        "size": snapshot.size,
        "entered": snapshot.entered,
        "exited": snapshot.exited,
    }


def launch_due_audiences() -> list[int]:
    """Launch the approved versions whose launch time has come; returns the ids of the audiences launched.

    Registered in ``audience_ops/cron.py`` every minute, so a launch happens within a minute of ``launch_at``.
    """
    from .lifecycle import audience_launch_due

    return [audience.pk for audience in audience_launch_due(now=timezone.now())]

"""Recurring jobs, loaded by ``manage.py rqcron audience_ops.cron`` (the scheduler process).

Each later capability registers its periodic job here; jobs take no state and call a service.
"""

from django.conf import settings
from rq import cron

from audience_ops.audiences.jobs import evaluate_live_audiences
from audience_ops.core.tasks import heartbeat

cron.register(heartbeat, "default", interval=60, name="heartbeat")
cron.register(
    evaluate_live_audiences,
    "default",
    interval=settings.AUDIENCE_EVALUATION_INTERVAL_SECONDS,
    name="evaluate-live-audiences",
)

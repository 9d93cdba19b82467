"""Recurring jobs, loaded by ``manage.py rqcron audience_ops.cron`` (the scheduler process).

Each later capability registers its periodic job here; jobs take no state and call a service.
"""

from django.conf import settings
from rq import cron

from audience_ops.audiences.hygiene_jobs import DAILY_SECONDS, flag_retirement_candidates
from audience_ops.audiences.jobs import evaluate_live_audiences, launch_due_audiences
from audience_ops.core.tasks import heartbeat
from audience_ops.monitoring.jobs import ALERTS_INTERVAL_SECONDS, evaluate_alerts
from audience_ops.syncs.sweeper import schedule_due_syncs, sweep_runs

cron.register(heartbeat, "default", interval=60, name="heartbeat")
cron.register(
    evaluate_live_audiences,
    "default",
    interval=settings.AUDIENCE_EVALUATION_INTERVAL_SECONDS,
    name="evaluate-live-audiences",
)
cron.register(launch_due_audiences, "default", interval=60, name="launch-due-audiences")
cron.register(flag_retirement_candidates, "default", interval=DAILY_SECONDS, name="flag-retirement-candidates")
cron.register(sweep_runs, "default", interval=60, name="sync-sweeper")
cron.register(schedule_due_syncs, "default", interval=60, name="sync-schedule")
cron.register(evaluate_alerts, "default", interval=ALERTS_INTERVAL_SECONDS, name="evaluate-alerts")

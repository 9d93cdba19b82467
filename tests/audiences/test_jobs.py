"""The scheduled evaluation: one RQ job per live audience, run by a real (burst) worker."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from rq import SimpleWorker

from audience_ops.audiences.jobs import EVALUATION_QUEUE, evaluate_audience_job, evaluate_live_audiences
from audience_ops.audiences.models import Audience, AudienceSnapshot
from audience_ops.audiences.services import audience_import
from audience_ops.core.workers import Worker

from .helpers import SPEC_EXAMPLE, make_profile, track

pytestmark = [pytest.mark.django_db, pytest.mark.redis]


class BurstWorker(SimpleWorker, Worker):
    """Runs jobs in this process and thread (so they see the test's transaction), with the project's fixes."""


def queue_named(queues, name):
    return next(queue for queue in queues if queue.name == name)


def test_the_tick_enqueues_one_job_per_live_audience_and_the_worker_runs_them(
    users, rq_queues, django_capture_on_commit_callbacks
):
    # given the example audiences, two of them live, and a recent buyer
    audience_import(payload=SPEC_EXAMPLE)
    Audience.objects.filter(slug__in=["purchased-24h", "coffee-replenish"]).update(status="live")
    buyer = make_profile(external_id="buyer")
    track(buyer, "Order Completed", dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    queue = queue_named(rq_queues, EVALUATION_QUEUE)
    # when the scheduler's tick runs (jobs are enqueued when the transaction commits)
    with django_capture_on_commit_callbacks(execute=True):
        enqueued = evaluate_live_audiences()
    # then exactly the live audiences were queued, one job each
    live_ids = sorted(Audience.objects.filter(status="live").values_list("pk", flat=True))
    assert sorted(enqueued) == live_ids
    assert queue.count == 2
    assert sorted(job.args[0] for job in queue.get_jobs()) == live_ids
    assert all(job.func_name.endswith("evaluate_audience_job") for job in queue.get_jobs())
    # and a burst worker evaluates them: one snapshot per live audience, none for the draft
    BurstWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.count == 0
    sizes = dict(AudienceSnapshot.objects.values_list("audience__slug", "size"))
    assert sizes == {"purchased-24h": 1, "coffee-replenish": 0}


def test_a_pending_evaluation_is_not_queued_twice(users, rq_queues, django_capture_on_commit_callbacks):
    audience_import(payload=SPEC_EXAMPLE)
    Audience.objects.filter(slug="purchased-24h").update(status="live")
    queue = queue_named(rq_queues, EVALUATION_QUEUE)
    with django_capture_on_commit_callbacks(execute=True):
        first = evaluate_live_audiences()
    with django_capture_on_commit_callbacks(execute=True):
        second = evaluate_live_audiences()
    assert (len(first), second, queue.count) == (1, [], 1)


def test_no_live_audience_enqueues_nothing(users, rq_queues, django_capture_on_commit_callbacks):
    audience_import(payload=SPEC_EXAMPLE)
    with django_capture_on_commit_callbacks(execute=True):
        assert evaluate_live_audiences() == []
    assert all(queue.count == 0 for queue in rq_queues)


def test_the_job_skips_an_audience_that_is_no_longer_live(users):
    audience_import(payload=SPEC_EXAMPLE)
    audience = Audience.objects.get(slug="purchased-24h")
    assert evaluate_audience_job(audience.pk) == {"audience_id": audience.pk, "skipped": "not live"}
    assert AudienceSnapshot.objects.exists() is False


def test_the_tick_is_registered_in_the_scheduler():
    from rq import cron

    import audience_ops.cron  # noqa: F401  (registers on import)

    registered = {entry["name"]: entry for entry in cron._job_data_registry}
    entry = registered["evaluate-live-audiences"]
    assert entry["func"] is evaluate_live_audiences
    assert entry["interval"] == settings.AUDIENCE_EVALUATION_INTERVAL_SECONDS
    assert entry["queue_name"] == "default"

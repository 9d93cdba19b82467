"""The demo's chapters 4 and 5: syncs, four weeks of simulated history and the alerts it leaves open.

One test builds the whole demo (``manage.py demo --no-serve``, which serves a sandbox from a thread for the
history) and checks what a user finds in it, then starts the demo again on the same database. It is the
slowest test of the suite (about half a minute on SQLite) because it plays the real history.
"""

from __future__ import annotations

import datetime as dt
import socket
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.utils import timezone

from audience_ops.audiences.models import Audience, AudienceSnapshot, QATestProfile
from audience_ops.audit.models import AuditEvent
from audience_ops.core.demo_sandbox import forget_sandbox_state
from audience_ops.customers.models import Event
from audience_ops.destinations.sandbox.server import start_in_thread
from audience_ops.monitoring.models import Alert
from audience_ops.syncs.models import LedgerEntry, Sync, SyncRun
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_request_run

pytestmark = pytest.mark.django_db(transaction=True)

PROFILES = 2000  # enough for the cart abandoners to reach the ballooning check's minimum size (100)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def demo_settings(settings):
    settings.SANDBOX_BASE_URL = f"http://127.0.0.1:{_free_port()}"
    return settings


def _open(kind: str) -> list[Alert]:
    return list(Alert.objects.filter(kind=kind, state="open"))


def test_demo_tells_the_whole_story_and_restarts_without_adding_history(demo_settings):
    # given a fresh database, when the demo prepares everything without serving
    out = StringIO()
    call_command("demo", "--no-serve", "--profiles", str(PROFILES), stdout=out)

    # then chapter 3 is there: QA profiles, the live pair
    assert QATestProfile.objects.count() == 6
    live = set(Audience.objects.filter(status="live").values_list("slug", flat=True))
    assert {"purchased-24h", "cart-abandoners-3d"} <= live
    # chapter 6's audiences put something in the retirement queue (one is past its retirement date)
    assert _open("near_retirement")

    # size trends cover four weeks, one evaluation a day
    cart = Audience.objects.get(slug="cart-abandoners-3d")
    times = list(cart.snapshots.order_by("evaluated_at").values_list("evaluated_at", flat=True))
    assert len(times) == 29 and times[-1] - times[0] == dt.timedelta(days=28)

    # the pair synced to Meta and TikTok through the whole history, with match rates; Google joined today
    syncs = {(s.destination.name, s.audience.slug): s for s in Sync.objects.select_related("destination", "audience")}
    pair = ("purchased-24h", "cart-abandoners-3d")
    assert {(d, a) for d in ("Meta sandbox", "TikTok sandbox", "Google sandbox") for a in pair} <= set(syncs)
    meta_cart = syncs[("Meta sandbox", "cart-abandoners-3d")]
    runs = SyncRun.objects.filter(sync=meta_cart, state="succeeded")
    assert runs.count() >= 50 and runs.filter(match_rate__gt=0).count() == runs.count()
    assert runs.order_by("as_of").first().as_of < times[0] + dt.timedelta(hours=1)
    assert all(sync.every_minutes == 15 for sync in syncs.values())
    # and the scheduler takes over from now: no sync is scheduled further away than one cadence
    latest_run = max(sync.next_run_at for sync in syncs.values())
    assert latest_run <= timezone.now() + dt.timedelta(minutes=15)
    google_cart = SyncRun.objects.get(sync=syncs[("Google sandbox", "cart-abandoners-3d")])
    assert google_cart.state == "succeeded" and google_cart.not_sent > 0  # profiles without ad consent

    # the promo spike went in through ingestion, and the cart abandoners more than doubled: ballooning is open
    assert Event.objects.filter(message_id__startswith="demo-promo-").count() > 50
    ballooning = [alert for alert in _open("ballooning") if alert.audience_id == cart.pk]
    assert len(ballooning) == 1 and ballooning[0].details["size"] > 2 * ballooning[0].details["median"]
    # runs the large-change guardrail held went on only once omar approved them
    approved = SyncRun.objects.filter(large_change_approved=True)
    assert approved.exists() and {run.decided_by.username for run in approved} == {"omar"}

    # the TikTok suppression sync failed at the end while targeting kept syncing: a suppression leak is open
    tiktok_suppression = syncs[("TikTok sandbox", "purchased-24h")]
    assert SyncRun.objects.filter(sync=tiktok_suppression).order_by("-pk").first().state == "failed"
    leaks = _open("suppression_leak")
    assert [alert.sync_id for alert in leaks] == [syncs[("TikTok sandbox", "cart-abandoners-3d")].pk]
    assert leaks[0].details["partner_problem"] == "the suppression's sync to this destination is failing"
    assert "Open alerts: suppression_leak x1" in out.getvalue()

    # when the demo starts again on the same database, nothing is replayed and the story still holds
    snapshots, run_count, sync_count = AudienceSnapshot.objects.count(), SyncRun.objects.count(), len(syncs)
    call_command("demo", "--no-serve", stdout=StringIO())
    assert SyncRun.objects.count() == run_count
    assert AudienceSnapshot.objects.count() == snapshots + Audience.objects.exclude(status="retired").count()
    assert Sync.objects.count() == sync_count
    assert _open("suppression_leak")


def test_syncs_to_a_sandbox_that_restarted_empty_send_everything_again(demo_settings):
    # given the demo prepared once (its history sent the pair to a sandbox that is gone now)
    call_command("demo", "--no-serve", "--profiles", "300", stdout=StringIO())
    meta_cart = Sync.objects.get(destination__name="Meta sandbox", audience__slug="cart-abandoners-3d")
    assert meta_cart.remote_audience_id and LedgerEntry.objects.filter(sync=meta_cart).exists()

    # when the demo starts a new, empty sandbox and forgets what its syncs sent to the old one
    running = start_in_thread("127.0.0.1", urlsplit(demo_settings.SANDBOX_BASE_URL).port)
    try:
        reset = forget_sandbox_state(stdout=StringIO())
        meta_cart.refresh_from_db()
        assert reset >= 6 and meta_cart.remote_audience_id == ""
        assert not LedgerEntry.objects.filter(sync=meta_cart).exists()
        assert AuditEvent.objects.filter(action="sync.sandbox_reset", object_id=str(meta_cart.pk)).exists()
        # then the next runs (suppression first) create the audiences again and send every member
        suppression = Sync.objects.get(destination=meta_cart.destination, audience__slug="purchased-24h")
        for sync in (suppression, meta_cart):
            run = execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)
            assert run.state == "succeeded", run.error
        meta_cart.refresh_from_db()
        assert meta_cart.remote_audience_id
        assert run.added == LedgerEntry.objects.filter(sync=meta_cart).count() > 0
    finally:
        running.stop()

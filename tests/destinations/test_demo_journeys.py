"""The demo's journey-state chapter: every new destination kind gets an audience from the demo."""

from __future__ import annotations

from io import StringIO

import psycopg
import pytest
from django.core.management import call_command

from audience_ops.core.demo_audiences import load_demo_audiences
from audience_ops.core.demo_journeys import ensure_demo_journey_syncs
from audience_ops.core.demo_users import ensure_demo_users
from audience_ops.destinations.demo import DEMO_WAREHOUSE_SCHEMA
from audience_ops.destinations.sandbox.event_clients import SegmentReceiverClient, WebhookReceiverClient
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import SyncRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_warehouse(warehouse_database, monkeypatch):
    monkeypatch.setenv("WAREHOUSE_DEMO_URL", warehouse_database)
    yield warehouse_database
    with psycopg.connect(warehouse_database, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{DEMO_WAREHOUSE_SCHEMA}" CASCADE')


def test_the_demo_syncs_audiences_to_analytics_webhook_and_warehouse(
    sandbox_server, settings, demo_warehouse, rq_queues
):
    settings.SANDBOX_BASE_URL = sandbox_server.url
    settings.SYNC_GUARDRAIL_MIN_ROWS = 10**9
    call_command("seed_demo", profiles=60, stdout=StringIO())
    ensure_demo_users()
    load_demo_audiences(stdout=StringIO())

    syncs = ensure_demo_journey_syncs(stdout=StringIO())

    kinds = {sync.destination.kind for sync in syncs}
    assert kinds == {"segment_analytics", "webhook", "postgres_warehouse"}
    for sync in syncs:
        run = SyncRun.objects.get(sync=sync)
        if sync.destination.kind == "postgres_warehouse":
            assert run.state == RunState.QUEUED  # the worker runs it (no sandbox to probe)
            continue
        assert run.state == RunState.SUCCEEDED, run.error
    cart = "cart-abandoners-3d"
    assert SegmentReceiverClient(sandbox_server.url).members(cart)
    assert WebhookReceiverClient(sandbox_server.url).members(cart)
    # a second start creates nothing new
    assert len(ensure_demo_journey_syncs(stdout=StringIO())) == len(syncs)


def test_without_postgresql_the_demo_leaves_the_warehouse_out(sandbox_server, settings, monkeypatch, rq_queues):
    monkeypatch.delenv("WAREHOUSE_DEMO_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings.SANDBOX_BASE_URL = sandbox_server.url
    out = StringIO()

    from audience_ops.destinations.demo import ensure_demo_event_destinations

    destinations = ensure_demo_event_destinations(stdout=out)

    assert [d.kind for d in destinations] == ["segment_analytics", "webhook"]
    assert "left out" in out.getvalue()

"""The demo's chapter 4: the cart-abandoner pair mirrored to the Meta sandbox, each run once at start-up."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from audience_ops.core.demo_audiences import load_demo_audiences
from audience_ops.core.demo_syncs import ensure_demo_syncs
from audience_ops.core.demo_users import ensure_demo_users
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import LedgerEntry, Sync, SyncRun

pytestmark = pytest.mark.django_db


def test_demo_syncs_the_pair_to_the_sandbox_with_real_runs_and_match_rates(meta_destination, meta_sandbox):
    # given the demo data, users and live audiences, as `manage.py demo` prepares them
    call_command("seed_demo", profiles=60, stdout=StringIO())
    ensure_demo_users()
    load_demo_audiences(stdout=StringIO())
    out = StringIO()

    # when
    syncs = ensure_demo_syncs(stdout=out, destinations=[meta_destination])

    # then: suppression first, both mirrored every 15 minutes, enabled, created by omar
    assert [s.audience.slug for s in syncs] == ["purchased-24h", "cart-abandoners-3d"]
    for sync in syncs:
        assert (sync.mode, sync.every_minutes, sync.enabled, sync.created_by.username) == ("mirror", 15, True, "omar")
        run = SyncRun.objects.get(sync=sync)
        assert run.state == RunState.SUCCEEDED, run.error
        assert run.requested_by.username == "omar"
        sync.refresh_from_db()
        held = meta_sandbox.members(sync.remote_audience_id)
        assert len(held) == run.added == LedgerEntry.objects.filter(sync=sync).count()
        assert run.added > 0  # the demo data has members in both audiences
        assert run.match_rate is not None and 0 < run.match_rate <= 1
    assert "Cart abandoners, last 3 days -> Meta sandbox: run" in out.getvalue()

    # and a second start changes nothing
    again = ensure_demo_syncs(stdout=StringIO(), destinations=[meta_destination])
    assert [s.pk for s in again] == [s.pk for s in syncs]
    assert Sync.objects.count() == 2 and SyncRun.objects.count() == 2

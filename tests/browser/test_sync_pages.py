"""Omar (ops) opens a sync, reads its dry run, clicks Run now, and sees the run with its counts, in Chromium.

The run goes through the real path: the click records the run and enqueues its job after commit, an RQ
worker runs it against the Meta sandbox over HTTP, and the pages show what it did.
"""

from __future__ import annotations

import re

import django_rq
import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from audience_ops.syncs.choices import RunState, SyncMode
from audience_ops.syncs.dispatch import SYNC_QUEUE
from audience_ops.syncs.models import SyncRun
from audience_ops.syncs.services import sync_create
from tests.conftest import login
from tests.syncs.helpers import make_members, member_audience

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class InProcessWorker(SimpleWorker):
    """RQ's in-process worker (the job sees the test's database), tolerant of the embedded server."""

    def _set_ip_address(self, connection) -> None:
        try:
            super()._set_ip_address(connection)
        except (ValueError, KeyError):
            self.ip_address = "embedded"


def test_ops_dry_runs_then_runs_a_sync_and_sees_the_run(
    page, live_server, marketer, ops_user, meta_destination, rq_queues
):
    # given: three members (one without an email, so it has no identifier Meta receives) and a mirror sync
    audience = member_audience("vip-shoppers")
    people = make_members(2)
    make_members(1, start=50, email=False)
    sync_create(actor=None, audience=audience, destination=meta_destination, mode=SyncMode.MIRROR)
    login(page, live_server, "omar")

    # when: Omar opens the sync from the list and asks for a dry run
    page.get_by_role("link", name="Syncs", exact=True).click()
    page.get_by_role("link", name=audience.name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(meta_destination.name)
    page.get_by_role("link", name="Dry run").click()

    # then: the exact plan, with the profiles to add linked to their pages; nothing was sent
    expect(page.locator("#plan-adds")).to_have_text("+3")
    expect(page.locator("#plan-removes")).to_have_text("\u22120")
    expect(page.locator("#plan-unmatchable")).to_have_text("1")
    expect(page.get_by_role("link", name=people[0].external_id)).to_have_attribute("href", f"/profiles/{people[0].pk}/")
    assert not SyncRun.objects.exists()

    # when: he runs it now; a worker picks the job up
    page.get_by_role("button", name="Run now").click()
    expect(page.locator("#run-state")).to_contain_text("Queued")
    run = SyncRun.objects.get()
    queue = django_rq.get_queue(SYNC_QUEUE)
    assert queue.count == 1
    InProcessWorker([queue], connection=queue.connection).work(burst=True)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED, run.error
    page.get_by_role("link", name="Refresh").click()

    # then: the run page shows what was sent, and the sync page lists the run with its counts
    expect(page.locator("#run-state")).to_contain_text("Succeeded")
    expect(page.locator("#count-added")).to_have_text("2")
    expect(page.get_by_role("heading", name="Phase timings")).to_be_visible()
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=re.compile(audience.name)).click()
    expect(page.locator("#ledger-size")).to_have_text("2")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=f"#{run.pk}"))
    expect(row).to_contain_text("+3 / \u22120")
    expect(row).to_contain_text("Succeeded")
    expect(page.locator("#match-rate")).to_have_text(re.compile(r"^\d+\.\d%$"))

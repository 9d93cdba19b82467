"""Ada (admin) adds a TikTok sandbox destination; Omar (ops) syncs a live audience to it, runs it and sees the
run with its match rate, in Chromium. The run goes through the real path: an RQ worker runs the job against
the TikTok emulator over HTTP."""

from __future__ import annotations

import re

import django_rq
import pytest
from playwright.sync_api import expect
from rq import SimpleWorker

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.customers.models import Profile
from audience_ops.destinations.models import Destination
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.dispatch import SYNC_QUEUE
from audience_ops.syncs.models import SyncRun
from tests.conftest import login
from tests.syncs.helpers import member_audience

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


class InProcessWorker(SimpleWorker):
    """RQ's in-process worker (the job sees the test's database), tolerant of the embedded server."""

    def _set_ip_address(self, connection) -> None:
        try:
            super()._set_ip_address(connection)
        except (ValueError, KeyError):
            self.ip_address = "embedded"


def test_admin_adds_tiktok_and_ops_syncs_a_live_audience_to_it(
    page, live_server, marketer, ops_user, admin_user, tiktok_sandbox, rq_queues
):
    # given: a live audience of six shoppers with phones and emails
    audience = member_audience("tiktok-shoppers")
    Audience.objects.filter(pk=audience.pk).update(status=AudienceStatus.LIVE)
    Profile.objects.bulk_create(
        Profile(
            external_id=f"cus_{i}", email=f"fan{i}@example.com", phone=f"+1 212 555 01{i:02d}", traits={"seg": "in"}
        )
        for i in range(6)
    )

    # when: Ada adds a TikTok destination on the sandbox from the admin form and tests it
    login(page, live_server, "ada")
    page.goto(f"{live_server.url}/destinations/")
    page.get_by_role("button", name="New destination").click()
    page.get_by_role("link", name="TikTok Audience").click()
    page.get_by_label("Name").fill("TikTok sandbox")
    page.get_by_label("Advertiser id").fill("7000000000001")
    page.get_by_label("Access token").fill("sandbox-browser-token-0123")
    page.get_by_label("Default phone region").fill("US")
    page.get_by_label("API base URL").fill(tiktok_sandbox.base_url)
    page.get_by_role("button", name="Create destination").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("TikTok sandbox")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_role("status").filter(has_text="Connection test passed")).to_be_visible()
    assert Destination.objects.get(name="TikTok sandbox").kind == "tiktok_audience"
    page.get_by_role("button", name="Sign out").click()

    # when: Omar creates an enabled mirror sync of the live audience to it and runs it; a worker picks it up
    login(page, live_server, "omar")
    page.get_by_role("link", name="Syncs", exact=True).click()
    page.get_by_role("link", name="New sync").first.click()
    page.get_by_label("Audience").select_option(label=audience.name)
    page.get_by_label("Destination").select_option(label="TikTok sandbox")
    page.get_by_label("Manual only (Run now)").check()
    page.get_by_role("button", name="Create sync").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("TikTok sandbox")
    page.get_by_role("button", name="Run now").click()
    queue = django_rq.get_queue(SYNC_QUEUE)
    InProcessWorker([queue], connection=queue.connection).work(burst=True)
    run = SyncRun.objects.get()
    assert run.state == RunState.SUCCEEDED, run.error
    page.get_by_role("link", name="Refresh").click()

    # then: the run added all six, and the sync page shows TikTok's match rate
    expect(page.locator("#run-state")).to_contain_text("Succeeded")
    expect(page.locator("#count-added")).to_have_text("6")
    page.get_by_role("navigation", name="Breadcrumb").get_by_role("link", name=re.compile(audience.name)).click()
    expect(page.locator("#match-rate")).to_have_text(re.compile(r"^\d+\.\d%$"))
    [held] = tiktok_sandbox.audiences()
    assert held["size"] == 6 and run.matched == held["matched"]

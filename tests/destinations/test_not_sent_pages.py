"""Members Google may not receive (no consent) are shown as "not sent" on the run page and the run history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audience_ops.syncs.choices import RunState
from audience_ops.syncs.services import sync_create
from tests.destinations.test_google_sync import run_now, shoppers
from tests.syncs.helpers import member_audience

pytestmark = pytest.mark.django_db


def test_run_page_and_history_show_the_members_held_back_for_consent(
    marketer, marketer_client, google_destination, google_sandbox
):
    shoppers(3)
    shoppers(5, start=100, consent={"consent_ad_user_data": False, "consent_ad_personalization": True})
    sync = sync_create(actor=None, audience=member_audience(), destination=google_destination)
    run = run_now(sync)
    assert run.state == RunState.SUCCEEDED and run.not_sent == 5

    page = marketer_client.get(reverse("syncs:run_detail", args=[run.pk])).content.decode()
    assert "Not sent" in page
    assert '<td class="text-end" id="count-not-sent">5</td>' in page

    history = marketer_client.get(reverse("syncs:detail", args=[sync.pk])).content.decode()
    row = history[history.index(f"#{run.pk}</a>") :]
    row = row[: row.index("</tr>")]
    assert "Not sent" in history
    assert '<td class="text-end">5</td>' in row  # the not-sent column of this run's row

"""The hygiene pages: what each role sees on the retirement queue, retiring and extending from it, reports."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.audit.models import AuditEvent
from tests.audiences.helpers import audience_dict, make_profile
from tests.audiences.test_hygiene import live, members

pytestmark = pytest.mark.django_db

QUEUE = "/audiences/hygiene/retirement/"


@pytest.fixture
def overdue(marketer):
    (audience,) = live(audience_dict("summer-sale", {"event": "A"}, name="Summer sale", retire_on="2026-09-30"))
    return audience


def test_admin_sees_the_queue_with_reasons_and_actions(admin_client_role, overdue):
    response = admin_client_role.get(QUEUE)
    assert response.status_code == 200
    assert "Summer sale" in response.text and "retire on 2026-09-30 passed" in response.text
    assert f"{QUEUE}summer-sale/retire/" in response.text and f"{QUEUE}summer-sale/extend/" in response.text


def test_ops_sees_the_queue_without_actions_and_marketers_do_not_see_it(client, ops_user, marketer, overdue):
    client.force_login(ops_user)
    response = client.get(QUEUE)
    assert response.status_code == 200 and "Summer sale" in response.text
    assert "/retire/" not in response.text
    assert client.post(f"{QUEUE}summer-sale/retire/", {"reason": "x"}).status_code == 403
    client.force_login(marketer)
    assert client.get(QUEUE).status_code == 403


def test_admin_retires_from_the_queue(admin_client_role, overdue):
    response = admin_client_role.post(f"{QUEUE}summer-sale/retire/", {"reason": "campaign over"}, follow=True)
    assert response.status_code == 200
    assert "Summer sale is retired" in response.text
    overdue.refresh_from_db()
    assert overdue.status == AudienceStatus.RETIRED
    assert AuditEvent.objects.get(action="audience.retire").reason == "campaign over"
    assert "Nothing to review" in response.text


def test_retiring_twice_says_why_it_did_not_happen(admin_client_role, overdue):
    Audience.objects.filter(pk=overdue.pk).update(status=AudienceStatus.RETIRED)
    response = admin_client_role.post(f"{QUEUE}summer-sale/retire/", {"reason": ""}, follow=True)
    assert "was not retired" in response.text and "already retired" in response.text


def test_admin_extends_from_the_queue(admin_client_role, overdue):
    new_date = timezone.localdate() + dt.timedelta(days=90)
    response = admin_client_role.post(
        f"{QUEUE}summer-sale/extend/", {"retire_on": new_date.isoformat(), "reason": "rerun in spring"}, follow=True
    )
    assert f"now retires on {new_date:%Y-%m-%d}" in response.text
    overdue.refresh_from_db()
    assert overdue.retire_on == new_date
    assert AuditEvent.objects.get(action="audience.extend_retirement").reason == "rerun in spring"


def test_extending_into_the_past_is_refused_on_the_page(admin_client_role, overdue):
    response = admin_client_role.post(
        f"{QUEUE}summer-sale/extend/", {"retire_on": "2020-01-01", "reason": "why not"}, follow=True
    )
    assert "was not changed" in response.text and "must be in the future" in response.text
    overdue.refresh_from_db()
    assert overdue.retire_on == dt.date(2026, 9, 30)


def test_unknown_audience_is_404(admin_client_role):
    assert admin_client_role.post(f"{QUEUE}no-such-audience/retire/").status_code == 404


def test_queue_lists_near_duplicate_pairs_with_sizes(admin_client_role, marketer):
    a, b = live(audience_dict("twin-a", {"event": "T"}, name="Twin A"), audience_dict("twin-b", {"event": "T"}))
    people = [make_profile(external_id=f"x{i}") for i in range(4)]
    members(a, people)
    members(b, people[:3])
    response = admin_client_role.get(QUEUE)
    table = response.text.split('id="near-duplicates"', 1)[1]
    assert "Twin A" in table and "same definition" in table and "0.75" in table


def test_marketer_reads_the_overlap_matrix_and_collision_report(marketer_client, marketer):
    discount, full = live(
        audience_dict("disc", {"event": "A"}, name="Winback 20% off", offer="discount"),
        audience_dict("full", {"event": "B"}, name="New arrivals", offer="full_price"),
    )
    people = [make_profile(external_id=f"c{i}") for i in range(3)]
    members(discount, people)
    members(full, people[1:])
    overlap = marketer_client.get("/audiences/hygiene/overlap/")
    assert overlap.status_code == 200
    assert 'data-row="disc" data-column="full"' in overlap.text
    collisions = marketer_client.get("/audiences/hygiene/collisions/")
    assert collisions.status_code == 200
    assert "Winback 20% off" in collisions.text and f"/profiles/{people[1].pk}/" in collisions.text
    assert "Retirement queue" not in collisions.text  # the queue tab is for ops and admins


def test_navigation_leads_each_role_to_its_hygiene_page(client, marketer, admin_user):
    client.force_login(admin_user)
    assert f'href="{QUEUE}"' in client.get("/audiences/").text
    client.force_login(marketer)
    page = client.get("/audiences/").text
    assert 'href="/audiences/hygiene/overlap/"' in page and f'href="{QUEUE}"' not in page

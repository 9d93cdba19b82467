"""Identifier coverage per audience and destination: presence counted in SQL, validity and unmatchable shares
from the destination's own normalisation over a bounded sample, and what the platform reported on runs."""

from __future__ import annotations

import pytest

from audience_ops.audiences.services import audience_evaluate
from audience_ops.customers.models import Profile
from audience_ops.destinations.models import Destination
from audience_ops.monitoring.coverage import audience_coverage
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.models import Sync
from audience_ops.syncs.services import sync_create

from .dashboard_helpers import NOW, live_member_audience, run_sync

pytestmark = pytest.mark.django_db

VALID_PHONE = "+1 415 555 2671"  # a number that exists (not a 555-01xx fiction number)
INVALID_PHONE = "12345"


def meta_destination(name: str, identifiers: list[str]) -> Destination:
    """A Meta destination as configured by an admin; coverage never calls the platform."""
    destination = Destination(
        name=name,
        kind="meta_custom_audience",
        config={"ad_account_id": "1234567890", "identifiers": identifiers, "base_url": "http://127.0.0.1:9"},
    )
    destination.set_credentials({"access_token": "test-token-never-used"})
    destination.save()
    return destination


def people(audience, rows: list[tuple[str | None, str | None, str | None]]) -> list[Profile]:
    """Members of ``audience`` with the given (external_id, email, phone)."""
    return Profile.objects.bulk_create(
        Profile(external_id=external_id, email=email, phone=phone, traits={"seg": audience.slug})
        for external_id, email, phone in rows
    )


@pytest.fixture
def mixed_audience(marketer):
    """Ten members: 6 with a valid email, 2 with a broken email, 2 without; 4 valid phones, 3 invalid, 3 none;
    two of them anonymous (no external id)."""
    audience = live_member_audience("mixed")
    people(
        audience,
        [
            ("c1", "a@example.com", VALID_PHONE),
            ("c2", "b@example.com", VALID_PHONE),
            ("c3", "c@example.com", INVALID_PHONE),
            ("c4", "d@example.com", None),
            ("c5", "e@example.com", None),
            ("c6", "f@example.com", INVALID_PHONE),
            ("c7", "not-an-email", VALID_PHONE),  # usable by phone only
            ("c8", "also broken@", INVALID_PHONE),  # nothing usable
            (None, None, VALID_PHONE),  # anonymous, phone only
            (None, None, None),  # anonymous, nothing at all
        ],
    )
    audience_evaluate(audience=audience, now=NOW)
    return audience


def test_presence_and_validity_shares_over_every_member(mixed_audience):
    coverage = audience_coverage(audience=mixed_audience)

    ids = coverage.identifiers
    assert ids.members == 10
    assert (ids.with_email.count, ids.with_phone.count, ids.with_external_id.count) == (8, 7, 8)
    assert (ids.valid_email.count, ids.valid_phone.count) == (6, 4)
    assert ids.sample_size == 10 and not ids.estimated
    assert ids.with_email.ratio == 0.8


def test_unmatchable_share_follows_what_each_destination_receives(mixed_audience):
    # given the audience synced to an email-only destination and to an email + phone destination
    email_only = meta_destination("Meta email only", ["email"])
    email_phone = meta_destination("Meta email and phone", ["email", "phone"])
    Sync.objects.create(audience=mixed_audience, destination=email_only)
    Sync.objects.create(audience=mixed_audience, destination=email_phone)

    coverage = {item.sync.destination.name: item for item in audience_coverage(audience=mixed_audience).destinations}

    # then email only: the 4 without a valid email are unmatchable; with phones, c7 and the anonymous phone match
    assert coverage["Meta email only"].identifier_types == ("email",)
    assert coverage["Meta email only"].unmatchable.count == 4
    assert coverage["Meta email only"].matchable.count == 6
    assert coverage["Meta email and phone"].unmatchable.count == 2
    assert coverage["Meta email and phone"].unmatchable.ratio == 0.2


def test_a_large_audience_is_sampled_and_labelled_estimated(mixed_audience, settings, client, marketer):
    settings.COVERAGE_SAMPLE_SIZE = 4

    coverage = audience_coverage(audience=mixed_audience)

    # presence stays exact (SQL over everyone); validity comes from at most 4 members spread over the ids
    assert coverage.identifiers.with_email.count == 8
    assert 1 <= coverage.identifiers.sample_size <= 4
    assert coverage.identifiers.estimated
    client.force_login(marketer)
    content = client.get("/dashboard/audiences/mixed/destinations/", HTTP_HX_REQUEST="true").content.decode()
    assert f"estimated from {coverage.identifiers.sample_size} members" in content


def test_the_sample_loads_only_sampled_rows(mixed_audience, settings, django_assert_max_num_queries):
    settings.COVERAGE_SAMPLE_SIZE = 3
    with django_assert_max_num_queries(4):
        coverage = audience_coverage(audience=mixed_audience)
    assert coverage.identifiers.sample_size <= 3


def test_platform_reported_invalid_and_rejected_rows_come_from_the_runs(marketer, fake_destination, fake_platform):
    # given an audience whose sync sent 5 rows, 2 rejected by the platform, and one member without an email
    audience = live_member_audience("reported")
    people(
        audience,
        [(f"r{i}", f"r{i}@example.com", None) for i in range(5)] + [("r-none", None, None)],
    )
    audience_evaluate(audience=audience, now=NOW)
    fake_platform.reject.update({"r1@example.com", "r3@example.com"})
    sync = sync_create(actor=None, audience=audience, destination=fake_destination, every_minutes=15)
    run = run_sync(sync)
    assert run.state == RunState.SUCCEEDED and run.invalid == 2

    (item,) = audience_coverage(audience=audience).destinations

    assert item.recent_invalid == 2
    assert item.recent_failed_rows == 2
    assert item.recent_unmatchable == 1
    assert item.recent_sent == 5
    assert item.unmatchable.count == 1  # the sample agrees with what the run found


def test_a_destination_with_a_broken_config_is_reported_not_crashed(mixed_audience, marketer_client):
    broken = Destination.objects.create(name="Broken", kind="meta_custom_audience", config={"identifiers": ["fax"]})
    Sync.objects.create(audience=mixed_audience, destination=broken)

    (item,) = audience_coverage(audience=mixed_audience).destinations

    assert item.unmatchable is None
    assert "configuration cannot be read" in item.problem
    content = marketer_client.get("/dashboard/audiences/mixed/destinations/", HTTP_HX_REQUEST="true").content.decode()
    assert "configuration cannot be read" in content

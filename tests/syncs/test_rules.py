"""Which syncs may exist and be enabled: removal capability, suppression, and the targeting/suppression gate."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from audience_ops.audiences.models import Audience
from audience_ops.audit.models import AuditEvent
from audience_ops.syncs.choices import SyncMode
from audience_ops.syncs.services import sync_create, sync_set_enabled, sync_update
from tests.syncs.helpers import IN_RULE, member_audience

pytestmark = pytest.mark.django_db


@pytest.fixture
def ads_pair(marketer):
    """A targeting ads audience and its paired suppression (both drafts)."""
    from tests.audiences.helpers import audience_dict, create_audiences

    suppression, targeting = create_audiences(
        audience_dict("bought-today", IN_RULE, kind="suppression", objective="ads"),
        audience_dict("cart-3d", IN_RULE, kind="targeting", objective="ads", paired_suppression="bought-today"),
    )
    return targeting, suppression


def go_live(*audiences: Audience) -> None:
    Audience.objects.filter(pk__in=[a.pk for a in audiences]).update(status="live")
    for audience in audiences:
        audience.refresh_from_db()


def test_mirror_is_refused_for_a_destination_that_cannot_remove(marketer, fake_destination, fake_platform):
    fake_platform.supports_removal = False
    with pytest.raises(ValidationError) as excinfo:
        sync_create(actor=None, audience=member_audience(), destination=fake_destination, mode=SyncMode.MIRROR)
    assert "cannot remove" in str(excinfo.value.message_dict["mode"])
    sync = sync_create(actor=None, audience=member_audience("add-only"), destination=fake_destination, mode="add_only")
    with pytest.raises(ValidationError):
        sync_update(actor=None, sync=sync, mode=SyncMode.MIRROR)


def test_a_suppression_audience_is_refused_where_removal_is_impossible(ads_pair, fake_destination, fake_platform):
    _, suppression = ads_pair
    go_live(suppression)
    fake_platform.supports_removal = False
    with pytest.raises(ValidationError) as excinfo:
        sync_create(actor=None, audience=suppression, destination=fake_destination, mode=SyncMode.ADD_ONLY)
    message = " ".join(excinfo.value.message_dict["audience"])
    assert "suppression" in message and "cannot remove" in message


def test_targeting_needs_live_audience_and_live_synced_suppression(ads_pair, fake_destination, ops_user):
    targeting, suppression = ads_pair

    with pytest.raises(ValidationError) as excinfo:
        sync_create(actor=ops_user, audience=targeting, destination=fake_destination)
    assert "not live" in str(excinfo.value)

    go_live(targeting)
    with pytest.raises(ValidationError) as excinfo:
        sync_create(actor=ops_user, audience=targeting, destination=fake_destination)
    assert "bought-today" in str(excinfo.value) and "not live" in str(excinfo.value)

    go_live(suppression)
    with pytest.raises(ValidationError) as excinfo:
        sync_create(actor=ops_user, audience=targeting, destination=fake_destination)
    assert "sync the suppression first" in str(excinfo.value)

    # created paused, it can wait for the suppression
    paused = sync_create(actor=ops_user, audience=targeting, destination=fake_destination, enabled=False)
    suppression_sync = sync_create(actor=ops_user, audience=suppression, destination=fake_destination)
    assert suppression_sync.enabled and suppression_sync.next_run_at is None  # manual cadence
    enabled = sync_set_enabled(actor=ops_user, sync=paused, enabled=True)
    assert enabled.enabled
    assert AuditEvent.objects.filter(action="sync.enable", object_id=str(paused.pk)).exists()


def test_a_paused_suppression_sync_does_not_count(ads_pair, fake_destination):
    targeting, suppression = ads_pair
    go_live(targeting, suppression)
    sync_create(actor=None, audience=suppression, destination=fake_destination, enabled=False)
    with pytest.raises(ValidationError, match="not synced"):
        sync_create(actor=None, audience=targeting, destination=fake_destination)


def test_cadence_is_validated_and_sets_the_next_run(marketer, fake_destination):
    with pytest.raises(ValidationError) as excinfo:
        sync_create(actor=None, audience=member_audience(), destination=fake_destination, cron="every day")
    assert "cron" in excinfo.value.message_dict
    sync = sync_create(
        actor=None, audience=member_audience("cron-one"), destination=fake_destination, cron="*/30 * * * *"
    )
    assert sync.next_run_at.minute in (0, 30) and sync.next_run_at.second == 0
    sync = sync_update(actor=None, sync=sync, every_minutes=15)
    assert sync.cron == "" and sync.every_minutes == 15
    paused = sync_set_enabled(actor=None, sync=sync, enabled=False)
    assert paused.next_run_at is None


def test_one_sync_per_audience_and_destination(marketer, fake_destination):
    audience = member_audience()
    sync_create(actor=None, audience=audience, destination=fake_destination)
    with pytest.raises(ValidationError, match="already has a sync"):
        sync_create(actor=None, audience=audience, destination=fake_destination)


def test_marketers_cannot_create_or_run_syncs(marketer, fake_destination):
    from audience_ops.syncs.services import sync_request_run

    with pytest.raises(PermissionDenied):
        sync_create(actor=marketer, audience=member_audience(), destination=fake_destination)
    sync = sync_create(actor=None, audience=member_audience("other-one"), destination=fake_destination)
    with pytest.raises(PermissionDenied):
        sync_request_run(actor=marketer, sync=sync)
    with pytest.raises(PermissionDenied):
        sync_set_enabled(actor=marketer, sync=sync, enabled=False)


def test_a_paused_sync_takes_only_dry_runs(marketer, fake_destination, fake_platform):
    from audience_ops.syncs.runner import execute_run
    from audience_ops.syncs.services import sync_request_run
    from tests.syncs.helpers import make_members

    make_members(2)
    sync = sync_create(actor=None, audience=member_audience(), destination=fake_destination)
    queued = sync_request_run(actor=None, sync=sync, enqueue=False)
    sync = sync_set_enabled(actor=None, sync=sync, enabled=False)

    with pytest.raises(ValidationError, match="paused"):
        sync_request_run(actor=None, sync=sync)
    skipped = execute_run(queued.pk)
    dry = execute_run(sync_request_run(actor=None, sync=sync, dry_run=True, enqueue=False).pk)

    assert skipped.state == "skipped" and "paused" in skipped.skip_reason
    assert (dry.state, dry.planned_adds) == ("succeeded", 2)
    assert fake_platform.calls == []


def test_a_targeting_run_is_skipped_when_its_suppression_stopped_syncing(ads_pair, fake_destination, fake_platform):
    from audience_ops.syncs.runner import execute_run
    from audience_ops.syncs.services import sync_request_run

    targeting, suppression = ads_pair
    go_live(targeting, suppression)
    suppression_sync = sync_create(actor=None, audience=suppression, destination=fake_destination)
    sync = sync_create(actor=None, audience=targeting, destination=fake_destination)
    sync_set_enabled(actor=None, sync=suppression_sync, enabled=False)

    run = execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)

    assert run.state == "skipped"
    assert "sync the suppression first" in run.skip_reason
    assert fake_platform.calls == []

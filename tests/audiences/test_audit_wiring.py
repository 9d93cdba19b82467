"""Definition changes (import, the builder, new versions) write audit events in the same transaction."""

from __future__ import annotations

import pytest

from audience_ops.audiences import services
from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_import, audience_version_create
from audience_ops.audit.models import AuditEvent

from .governance import cart_dict, suppression_dict

pytestmark = pytest.mark.django_db


def actions() -> list[tuple[str, str, str]]:
    return [
        (event.action, event.object_repr, event.actor_label)
        for event in AuditEvent.objects.filter(action__startswith="audience.").order_by("id")
    ]


def test_import_writes_create_update_and_version_events(people):
    # creating two audiences from the command line as maria
    audience_import(payload={"audiences": [suppression_dict(), cart_dict()]}, actor_or_username="maria")
    assert actions() == [
        ("audience.create", "Purchased in last 24 hours", "maria"),
        ("audience.version_create", "Purchased in last 24 hours", "maria"),
        ("audience.create", "Cart abandoners, last 3 days", "maria"),
        ("audience.version_create", "Cart abandoners, last 3 days", "maria"),
    ]
    create = AuditEvent.objects.filter(action="audience.create").order_by("id").first()
    assert create.actor is None  # the command line: named by --by, not signed in
    assert create.after["slug"] == "purchased-24h" and create.after["status"] == "draft"
    first_version = AuditEvent.objects.filter(action="audience.version_create").order_by("id").first()
    assert first_version.before is None and first_version.after["version"] == 1

    # a signed-in user (the builder) changing the purpose and the window
    changed = cart_dict(purpose="Paid retargeting after cart abandonment")
    changed["rule"]["all"][0]["within"] = {"days": 2}
    audience_import(payload=changed, actor_or_username=people["mark"])
    update = AuditEvent.objects.get(action="audience.update")
    assert update.actor == people["mark"]
    assert update.changes == {
        "purpose": [
            "Short paid retargeting window after cart abandonment; full-price creative",
            "Paid retargeting after cart abandonment",
        ]
    }
    version = AuditEvent.objects.filter(action="audience.version_create").latest("id")
    assert version.actor == people["mark"]
    assert set(version.changes) == {"author", "rule", "version"}
    assert version.changes["version"] == [1, 2]

    # an import that changes nothing writes nothing
    count = AuditEvent.objects.count()
    audience_import(payload=changed, actor_or_username=people["mark"])
    assert AuditEvent.objects.count() == count


def test_version_create_service_is_audited(pair, people):
    _suppression, cart = pair
    audience_version_create(audience=cart, definition={**cart_dict(), "qa": []}, author=people["mark"])
    event = AuditEvent.objects.filter(action="audience.version_create").latest("id")
    assert event.actor == people["mark"] and event.changes["qa"][1] == []


def test_a_failed_import_rolls_back_its_audit_events(people, monkeypatch):
    real = services._version_create
    calls = []

    def fail_on_second(**kwargs):
        calls.append(kwargs["audience"].slug)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(services, "_version_create", fail_on_second)
    with pytest.raises(RuntimeError):
        audience_import(payload={"audiences": [suppression_dict(), cart_dict()]}, actor_or_username="maria")
    assert not Audience.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="audience.").exists()

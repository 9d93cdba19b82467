"""The audit log: wired services write one event in their transaction, events are immutable, the page is for
ops and admins and its filters narrow the rows."""

from __future__ import annotations

import datetime
import json

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test import RequestFactory

from audience_ops.accounts import services as account_services
from audience_ops.accounts.roles import Role, user_role
from audience_ops.accounts.services import user_create, user_set_active, user_set_role
from audience_ops.audit.admin import AuditEventAdmin
from audience_ops.audit.models import AuditEvent, AuditImmutableError
from audience_ops.audit.selectors import audit_events_for
from audience_ops.audit.services import audit_record, model_snapshot, snapshot_changes
from audience_ops.customers.models import Profile, WriteKey
from audience_ops.customers.writekeys import writekey_create, writekey_revoke

pytestmark = pytest.mark.django_db

User = get_user_model()
UTC = datetime.UTC


def events_of(obj) -> list[AuditEvent]:
    return list(audit_events_for(obj=obj))


def make_event(*, obj, action: str, created_at: datetime.datetime, actor=None, label: str = "cli") -> AuditEvent:
    """An event at a chosen time (inserting is what the log allows; only changing is refused)."""
    return AuditEvent.objects.create(
        actor=actor,
        actor_label=actor.username if actor else label,
        action=action,
        object_content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj),
        created_at=created_at,
    )


@pytest.fixture
def colleague(db):
    return user_create(actor=None, username="carl", role=Role.MARKETER, email="carl@example.com", password=None)


# --- wired services ---------------------------------------------------------------------------------------


def test_user_create_writes_one_event_with_the_new_account(admin_user):
    # when
    user = user_create(actor=admin_user, username="eve", role=Role.OPS, email="eve@example.com", password="pw-long-1")
    # then
    [event] = events_of(user)
    assert (event.actor, event.actor_label, event.action) == (admin_user, "ada", "user.created")
    assert event.object_repr == "eve"
    assert event.before is None
    assert event.after == {
        "username": "eve",
        "email": "eve@example.com",
        "first_name": "",
        "last_name": "",
        "is_active": True,
        "role": "ops",
        "has_password": True,
    }
    assert event.changes == {
        "email": [None, "eve@example.com"],
        "first_name": [None, ""],
        "has_password": [None, True],
        "is_active": [None, True],
        "last_name": [None, ""],
        "role": [None, "ops"],
        "username": [None, "eve"],
    }
    assert event.ip_address is None


def test_user_create_from_the_command_line_is_labelled_cli(colleague):
    [event] = events_of(colleague)
    assert (event.actor, event.actor_label, event.action) == (None, "cli", "user.created")
    assert event.after["has_password"] is False


def test_user_create_never_writes_the_password(admin_user):
    user = user_create(actor=admin_user, username="eve", role=Role.OPS, password="secret-pass-42")
    [event] = events_of(user)
    stored = json.dumps([event.before, event.after, event.changes, event.reason, event.object_repr])
    assert "secret-pass-42" not in stored
    assert user.password not in stored


def test_user_set_role_writes_the_role_before_and_after(admin_user, colleague):
    # when
    user_set_role(actor=admin_user, user=colleague, role=Role.OPS)
    # then
    event = events_of(colleague)[0]
    assert (event.actor, event.action) == (admin_user, "user.role_changed")
    assert (event.before, event.after) == ({"role": "marketer"}, {"role": "ops"})
    assert event.changes == {"role": ["marketer", "ops"]}
    assert [e.action for e in events_of(colleague)] == ["user.role_changed", "user.created"]


def test_user_set_role_to_the_role_held_writes_nothing(admin_user, colleague):
    # when
    user_set_role(actor=admin_user, user=colleague, role=Role.MARKETER)
    # then
    assert [e.action for e in events_of(colleague)] == ["user.created"]


def test_user_set_active_writes_deactivation_then_reactivation(admin_user, colleague):
    # when
    user_set_active(actor=admin_user, user=colleague, active=False)
    user_set_active(actor=admin_user, user=colleague, active=True)
    # then
    reactivated, deactivated, _created = events_of(colleague)
    assert deactivated.action == "user.deactivated"
    assert deactivated.changes == {"is_active": [True, False]}
    assert deactivated.before["is_active"] is True and deactivated.after["is_active"] is False
    assert reactivated.action == "user.reactivated"
    assert reactivated.changes == {"is_active": [False, True]}


def test_user_set_active_to_the_current_state_writes_nothing(admin_user, colleague):
    user_set_active(actor=admin_user, user=colleague, active=True)
    assert [e.action for e in events_of(colleague)] == ["user.created"]


def test_refused_change_writes_no_event(ops_user, colleague):
    # when ops (no auth.change_user) tries to change a role
    with pytest.raises(PermissionDenied, match="may not do this"):
        user_set_role(actor=ops_user, user=colleague, role=Role.ADMIN)
    # then
    assert [e.action for e in events_of(colleague)] == ["user.created"]


def test_rolled_back_change_leaves_no_audit_row(admin_user, colleague):
    # given
    class Abort(Exception):
        pass

    # when the transaction around a change rolls back
    with pytest.raises(Abort), transaction.atomic():
        user_set_role(actor=admin_user, user=colleague, role=Role.ADMIN)
        assert AuditEvent.objects.filter(action="user.role_changed").count() == 1
        raise Abort
    # then neither the change nor its event is left
    colleague.refresh_from_db()
    assert user_role(colleague) == Role.MARKETER
    assert AuditEvent.objects.filter(action="user.role_changed").count() == 0


def test_failed_audit_write_rolls_back_the_change(monkeypatch, admin_user, colleague):
    # given the audit write fails
    def failing_audit_record(**kwargs):
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(account_services, "audit_record", failing_audit_record)
    # when
    with pytest.raises(RuntimeError, match="audit table unavailable"):
        user_set_active(actor=admin_user, user=colleague, active=False)
    # then the change did not happen without its event
    colleague.refresh_from_db()
    assert colleague.is_active is True
    assert AuditEvent.objects.filter(action="user.deactivated").count() == 0


def test_writekey_create_records_name_and_prefix_but_never_the_key(admin_user):
    # when
    write_key, raw_key = writekey_create(actor=admin_user, name="storefront")
    # then
    [event] = events_of(write_key)
    assert (event.actor, event.action) == (admin_user, "writekey.created")
    assert event.after == {
        "name": "storefront",
        "prefix": raw_key[:10],
        "created_by": admin_user.pk,
        "revoked_at": None,
    }
    stored = json.dumps([event.before, event.after, event.changes, event.reason, event.object_repr, event.actor_label])
    assert raw_key not in stored
    assert raw_key[10:] not in stored
    assert write_key.key_hash not in stored


def test_writekey_revoke_records_when_and_revoking_again_writes_nothing(admin_user):
    # given
    write_key, _raw_key = writekey_create(actor=admin_user, name="storefront")
    # when
    writekey_revoke(actor=admin_user, write_key=write_key)
    writekey_revoke(actor=admin_user, write_key=write_key)
    # then
    revoked, created = events_of(write_key)
    assert (revoked.action, created.action) == ("writekey.revoked", "writekey.created")
    write_key.refresh_from_db()
    stored_revoked_at = DjangoJSONEncoder().default(write_key.revoked_at)
    assert revoked.after == {
        "name": "storefront",
        "prefix": write_key.prefix,
        "created_by": admin_user.pk,
        "revoked_at": stored_revoked_at,
    }
    assert revoked.changes == {"revoked_at": [None, stored_revoked_at]}
    assert revoked.before["revoked_at"] is None


def test_writekey_command_line_events_are_labelled_cli():
    write_key, _raw_key = writekey_create(actor=None, name="mobile")
    [event] = events_of(write_key)
    assert (event.actor, event.actor_label) == (None, "cli")


def test_change_through_the_page_records_the_client_address(admin_client_role, admin_user, colleague):
    # when
    response = admin_client_role.post(f"/accounts/users/{colleague.pk}/role/", {"role": "ops"})
    # then
    assert response.status_code == 302
    event = events_of(colleague)[0]
    assert (event.action, event.actor, event.ip_address) == ("user.role_changed", admin_user, "127.0.0.1")


# --- the service itself -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_audit_record_outside_a_transaction_is_refused_and_writes_nothing():
    profile = Profile.objects.create(external_id="cust-1")
    with pytest.raises(TransactionManagementError, match=r"inside the transaction\.atomic block"):
        audit_record(actor=None, action="profile.touched", obj=profile)
    assert AuditEvent.objects.count() == 0


def test_audit_record_needs_a_saved_object():
    with pytest.raises(ValueError, match="obj: save the Profile"):
        audit_record(actor=None, action="profile.touched", obj=Profile(external_id="x"))
    assert AuditEvent.objects.count() == 0


def test_audit_record_refuses_an_action_that_is_not_a_dotted_verb():
    profile = Profile.objects.create(external_id="cust-1")
    with pytest.raises(ValidationError, match="dotted lower-case verb"):
        audit_record(actor=None, action="Touched It", obj=profile)
    assert AuditEvent.objects.filter(object_id=str(profile.pk)).count() == 0


def test_audit_record_defaults_to_system_and_keeps_the_reason():
    profile = Profile.objects.create(external_id="cust-1")
    event = audit_record(actor=None, action="audience.rejected", obj=profile, reason="  too broad  ")
    assert (event.actor_label, event.reason, event.changes) == ("system", "too broad", {})


def test_object_repr_outlives_the_object():
    # given
    profile = Profile.objects.create(external_id="cust-1")
    audit_record(actor=None, action="profile.touched", obj=profile)
    object_id = str(profile.pk)
    # when
    profile.delete()
    # then
    event = AuditEvent.objects.get(object_id=object_id)
    assert (event.object_repr, event.action) == ("cust-1", "profile.touched")


def test_model_snapshot_is_json_safe_and_refuses_secrets(admin_user):
    write_key, _raw_key = writekey_create(actor=admin_user, name="storefront")
    snapshot = model_snapshot(write_key, ["name", "created_by", "created_at"])
    assert snapshot["name"] == "storefront"
    assert snapshot["created_by"] == admin_user.pk
    assert isinstance(snapshot["created_at"], str)
    assert json.loads(json.dumps(snapshot)) == snapshot
    with pytest.raises(ValueError, match="key_hash: secrets"):
        model_snapshot(write_key, ["name", "key_hash"])
    with pytest.raises(ValueError, match="password: secrets"):
        model_snapshot(admin_user, ["password"])


def test_model_snapshot_records_many_to_many_as_sorted_ids(admin_user):
    assert model_snapshot(admin_user, ["groups"]) == {"groups": [admin_user.groups.get().pk]}


def test_snapshot_changes_lists_only_fields_that_differ():
    assert snapshot_changes(before={"a": 1, "b": 2, "c": None}, after={"a": 1, "b": 3, "d": 4}) == {
        "b": [2, 3],
        "d": [None, 4],
    }
    assert snapshot_changes(before=None, after=None) == {}


# --- immutability -----------------------------------------------------------------------------------------


@pytest.fixture
def event(colleague):
    return events_of(colleague)[0]


def test_saving_an_existing_event_is_refused(event):
    event.action = "user.deleted"
    with pytest.raises(AuditImmutableError, match="append-only"):
        event.save()
    with pytest.raises(AuditImmutableError):
        event.save(update_fields=["action"])
    assert AuditEvent.objects.get(pk=event.pk).action == "user.created"


def test_deleting_an_event_is_refused(event):
    with pytest.raises(AuditImmutableError, match="append-only: delete"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_queryset_update_and_delete_are_refused(event):
    with pytest.raises(AuditImmutableError, match=r"update\(\)"):
        AuditEvent.objects.filter(pk=event.pk).update(action="user.deleted")
    with pytest.raises(AuditImmutableError, match=r"delete\(\)"):
        AuditEvent.objects.all().delete()
    with pytest.raises(AuditImmutableError, match=r"bulk_update\(\)"):
        AuditEvent.objects.bulk_update([event], ["action"])
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["user.created"]


def test_an_actor_with_history_cannot_be_deleted(admin_user, colleague):
    from django.db.models import ProtectedError

    user_set_role(actor=admin_user, user=colleague, role=Role.OPS)
    with pytest.raises(ProtectedError):
        admin_user.delete()
    assert User.objects.filter(pk=admin_user.pk).exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is installed on PostgreSQL only")
def test_postgresql_trigger_rejects_raw_update_and_delete(event):
    table = AuditEvent._meta.db_table
    for sql in (f"UPDATE {table} SET action = 'user.deleted' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [event.pk])
    assert AuditEvent.objects.get(pk=event.pk).action == "user.created"


def test_the_only_audit_permission_is_view():
    codenames = set(Permission.objects.filter(content_type__app_label="audit").values_list("codename", flat=True))
    assert codenames == {"view_auditevent"}


def test_admin_offers_no_add_change_or_delete_even_to_superusers(event):
    root = User.objects.create_superuser(username="root", password="x-long-enough-password")
    request = RequestFactory().get("/")
    request.user = root
    model_admin = AuditEventAdmin(AuditEvent, admin_site=None)
    assert model_admin.has_view_permission(request, event) is True
    assert (
        model_admin.has_add_permission(request),
        model_admin.has_change_permission(request, event),
        model_admin.has_delete_permission(request, event),
    ) == (False, False, False)


def test_admin_delete_page_is_forbidden_and_deletes_nothing(client, event):
    root = User.objects.create_superuser(username="root", password="x-long-enough-password")
    client.force_login(root)
    response = client.post(f"/django-admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- the page ---------------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get("/audit/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/audit/"


def test_marketer_gets_403_and_no_nav_link(marketer_client):
    assert marketer_client.get("/audit/").status_code == 403
    assert 'href="/audit/"' not in marketer_client.get("/").content.decode()


@pytest.mark.parametrize("role_client", ["ops_client", "admin_client_role"])
def test_ops_and_admin_see_the_page_and_the_nav_link(request, role_client):
    client = request.getfixturevalue(role_client)
    response = client.get("/audit/")
    assert response.status_code == 200
    assert 'href="/audit/"' in client.get("/").content.decode()


def test_page_lists_newest_first_with_changes_and_offers_no_edit(admin_client_role, admin_user, colleague):
    # given
    user_set_role(actor=admin_user, user=colleague, role=Role.OPS)
    # when
    response = admin_client_role.get("/audit/")
    # then
    events = [row["event"] for row in response.context["rows"]]
    assert [(e.action, e.object_repr) for e in events] == [
        ("user.role_changed", "carl"),
        ("user.created", "carl"),
        ("user.created", "ada"),
    ]
    content = response.content.decode()
    assert '<span class="fw-semibold">role</span>: <span class="text-body-secondary">marketer</span> → ops' in content
    # a creation shows the new values only, an empty string as "(empty)"
    assert '<span class="fw-semibold">username</span>: carl</li>' in content
    assert '<span class="fw-semibold">first_name</span>: (empty)</li>' in content
    # the only form that posts is the sign-out form
    assert content.count('method="post"') == 1


def test_page_links_objects_that_have_a_page(admin_client_role):
    # given
    profile = Profile.objects.create(external_id="cust-1")
    with transaction.atomic():
        audit_record(actor=None, action="profile.touched", obj=profile)
    deleted = Profile.objects.create(external_id="cust-2")
    with transaction.atomic():
        audit_record(actor=None, action="profile.touched", obj=deleted)
    deleted.delete()
    # when
    response = admin_client_role.get("/audit/", {"action": "profile.touched"})
    # then
    urls = {row["event"].object_repr: row["url"] for row in response.context["rows"]}
    assert urls == {"cust-1": f"/profiles/{profile.pk}/", "cust-2": None}
    assert f'<a href="/profiles/{profile.pk}/">cust-1</a>' in response.content.decode()


def test_page_is_paginated_by_50(admin_client_role):
    # given 51 events besides the fixture user's own
    profile = Profile.objects.create(external_id="cust-1")
    start = datetime.datetime(2025, 3, 1, tzinfo=UTC)
    for minute in range(51):
        make_event(obj=profile, action="profile.touched", created_at=start + datetime.timedelta(minutes=minute))
    # when
    first = admin_client_role.get("/audit/", {"action": "profile.touched"})
    second = admin_client_role.get("/audit/", {"action": "profile.touched", "page": 2})
    # then
    assert len(first.context["rows"]) == 50
    assert first.context["rows"][0]["event"].created_at == start + datetime.timedelta(minutes=50)
    assert [row["event"].created_at for row in second.context["rows"]] == [start]


@pytest.fixture
def mixed_log(admin_user, ops_user, colleague):
    """Events by different actors, on different objects and days."""
    profile = Profile.objects.create(external_id="cust-42")
    write_key = WriteKey.objects.create(name="storefront", prefix="wk_abcdefg", key_hash="0" * 64)
    make_event(
        obj=profile, action="profile.touched", created_at=datetime.datetime(2025, 3, 1, 12, tzinfo=UTC), actor=ops_user
    )
    make_event(
        obj=write_key,
        action="writekey.revoked",
        created_at=datetime.datetime(2025, 3, 2, 23, 59, tzinfo=UTC),
        actor=admin_user,
    )
    make_event(obj=colleague, action="user.role_changed", created_at=datetime.datetime(2025, 3, 3, 0, 0, tzinfo=UTC))
    return {"profile": profile, "write_key": write_key}


def listed(client, **params) -> list[str]:
    response = client.get("/audit/", params)
    assert response.status_code == 200
    return [f"{row['event'].action} {row['event'].object_repr}" for row in response.context["rows"]]


def test_filter_by_actor_and_by_no_actor(admin_client_role, ops_user, mixed_log):
    assert listed(admin_client_role, actor=ops_user.pk) == ["profile.touched cust-42"]
    # the command line: the fixture users' creation and the undated role change
    assert listed(admin_client_role, actor="null", date_to="2025-03-31") == ["user.role_changed carl"]


def test_filter_by_action(admin_client_role, mixed_log):
    assert listed(admin_client_role, action="writekey.revoked") == ["writekey.revoked storefront (wk_abcdefg…)"]


def test_filter_by_object_type_and_object(admin_client_role, mixed_log, colleague):
    assert listed(admin_client_role, object_type="customers.profile") == ["profile.touched cust-42"]
    assert listed(admin_client_role, object_type="auth.user", object=str(colleague.pk)) == [
        "user.created carl",
        "user.role_changed carl",
    ]
    assert listed(admin_client_role, object="STOREFRONT") == ["writekey.revoked storefront (wk_abcdefg…)"]


def test_filter_by_date_range_includes_whole_days(admin_client_role, mixed_log):
    assert listed(admin_client_role, date_from="2025-03-02", date_to="2025-03-02") == [
        "writekey.revoked storefront (wk_abcdefg…)"
    ]
    assert listed(admin_client_role, date_from="2025-03-01", date_to="2025-03-03") == [
        "user.role_changed carl",
        "writekey.revoked storefront (wk_abcdefg…)",
        "profile.touched cust-42",
    ]


def test_filter_choices_come_from_the_log(admin_client_role, mixed_log):
    form = admin_client_role.get("/audit/").context["filter"].form
    assert [value for value, _label in form.fields["action"].choices][1:] == [
        "profile.touched",
        "user.created",
        "user.role_changed",
        "writekey.revoked",
    ]
    assert [value for value, _label in form.fields["object_type"].choices][1:] == [
        "customers.profile",
        "auth.user",
        "customers.writekey",
    ]


def test_backwards_date_range_names_the_field_and_lists_nothing(admin_client_role, mixed_log):
    response = admin_client_role.get("/audit/", {"date_from": "2025-03-03", "date_to": "2025-03-01"})
    assert response.status_code == 200
    assert response.context["rows"] == []
    assert "date_to: must be on or after the &#x27;from&#x27; date" in response.content.decode()

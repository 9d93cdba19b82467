"""Key rotation: after ``rotate_keys`` the old key can be dropped and every credential still reads."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.test import override_settings

from audience_ops.audit.models import AuditEvent
from audience_ops.destinations.models import Destination
from audience_ops.destinations.services import destination_create, destination_credentials_rotate
from tests.destinations.test_services import TOKEN, meta_config

pytestmark = pytest.mark.django_db

OLD = Fernet.generate_key().decode()
NEW = Fernet.generate_key().decode()


def test_after_rotation_the_old_key_can_be_dropped(admin_user, capsys):
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        destination = destination_create(
            actor=admin_user, name="Meta US", kind="meta_custom_audience", config=meta_config()
        )

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW, OLD]):
        call_command("rotate_keys")

    assert "1 destination(s)" in capsys.readouterr().out
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]):
        assert Destination.objects.get(pk=destination.pk).get_credentials() == {"access_token": TOKEN}
    event = AuditEvent.objects.get(action="destination.rotate_credentials")
    assert TOKEN not in str(event.before) + str(event.after)


def test_a_credential_no_key_can_read_stops_the_rotation_and_changes_nothing(admin_user):
    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]):
        first = destination_create(actor=admin_user, name="Meta A", kind="meta_custom_audience", config=meta_config())
    with override_settings(FIELD_ENCRYPTION_KEYS=[OLD]):
        destination_create(actor=admin_user, name="Meta B", kind="meta_custom_audience", config=meta_config())
    stored = Destination.objects.get(pk=first.pk).credentials

    with override_settings(FIELD_ENCRYPTION_KEYS=[NEW]), pytest.raises(CommandError, match='"Meta B"'):
        call_command("rotate_keys")

    assert Destination.objects.get(pk=first.pk).credentials == stored
    assert not AuditEvent.objects.filter(action="destination.rotate_credentials").exists()


def test_only_admins_may_rotate(marketer, ops_user):
    for user in (marketer, ops_user):
        with pytest.raises(PermissionDenied):
            destination_credentials_rotate(actor=user)

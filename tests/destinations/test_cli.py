"""``manage.py destinations add | list | test``: the same services as the pages, secrets masked."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from audience_ops.audit.models import AuditEvent
from audience_ops.destinations.models import Destination

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("destinations", *args, stdout=out)
    return out.getvalue()


def test_add_list_and_test_against_the_sandbox(meta_sandbox):
    config = meta_sandbox.destination_config(identifiers=["email", "external_id"])

    added = run("add", "Meta sandbox", "--kind", "meta_custom_audience", "--config", json.dumps(config))
    listed = run("list")
    tested = run("test", "Meta sandbox")

    destination = Destination.objects.get(name="Meta sandbox")
    assert f"Created destination #{destination.pk} 'Meta sandbox'" in added
    assert destination.get_credentials() == {"access_token": config["access_token"]}
    assert '{"access_token": "••••cdef"}' in listed
    assert config["access_token"] not in listed
    assert "email" in listed and "external_id" in listed
    assert "Meta sandbox: Connected to ad account" in tested
    assert "ok " in run("list")
    event = AuditEvent.objects.get(action="destination.create")
    assert event.actor_label == "cli"


def test_add_records_the_user_given_with_by(admin_user, meta_sandbox):
    run(
        "add",
        "Meta",
        "--kind",
        "meta_custom_audience",
        "--config",
        json.dumps(meta_sandbox.destination_config()),
        "--by",
        "ada",
    )

    assert Destination.objects.get(name="Meta").created_by == admin_user
    assert AuditEvent.objects.get(action="destination.create").actor == admin_user


def test_by_is_held_to_the_role(marketer, meta_sandbox):
    with pytest.raises(CommandError, match="may not do this"):
        run(
            "add",
            "Meta",
            "--kind",
            "meta_custom_audience",
            "--config",
            json.dumps(meta_sandbox.destination_config()),
            "--by",
            "maria",
        )

    assert not Destination.objects.exists()


def test_invalid_config_names_the_key():
    config = {"ad_account_id": "1", "access_token": "t", "identifiers": ["email", "fax"]}

    with pytest.raises(CommandError) as caught:
        run("add", "Meta", "--kind", "meta_custom_audience", "--config", json.dumps(config))

    assert 'config.identifiers[1]: "fax" is not one of email, phone, external_id' in str(caught.value)
    assert not Destination.objects.exists()


def test_invalid_json_and_unknown_names_are_errors():
    with pytest.raises(CommandError, match="--config: not valid JSON"):
        run("add", "Meta", "--kind", "meta_custom_audience", "--config", "{nope")
    with pytest.raises(CommandError, match='no destination named "Nowhere"'):
        run("test", "Nowhere")


def test_failed_connection_test_exits_non_zero_with_the_platform_message(meta_sandbox):
    run("add", "Meta", "--kind", "meta_custom_audience", "--config", json.dumps(meta_sandbox.destination_config()))
    meta_sandbox.reject_token()

    with pytest.raises(CommandError, match="Meta: Invalid OAuth access token"):
        run("test", "Meta")

    assert "failed " in run("list")

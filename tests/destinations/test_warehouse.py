"""The PostgreSQL warehouse destination against a real PostgreSQL database: its tables, hashed or raw
identifiers, the append-only change log with run ids, and configuration through the command line."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from audience_ops.customers.models import Profile
from audience_ops.destinations import normalise
from audience_ops.destinations.adapters.base import ConfigError, PermanentError
from audience_ops.destinations.adapters.warehouse import PostgresWarehouseAdapter
from audience_ops.destinations.models import Destination
from audience_ops.destinations.services import destination_create
from audience_ops.syncs.choices import RunState
from audience_ops.syncs.runner import execute_run
from audience_ops.syncs.services import sync_create, sync_request_run
from tests.syncs.helpers import member_audience

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_guardrail(settings):
    settings.SYNC_GUARDRAIL_MIN_ROWS = 10**9


def run_now(sync):
    return execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)


def customers(count: int, *, start: int = 0) -> list[Profile]:
    return Profile.objects.bulk_create(
        Profile(
            external_id=f"cus_{i:06d}",
            email=f"Person{i}@Example.com",
            phone="(800) 555-0100" if i % 2 == 0 else None,
            traits={"seg": "in"},
        )
        for i in range(start, start + count)
    )


def test_members_and_changes_are_written_with_hashed_identifiers(marketer, warehouse, warehouse_destination):
    members = customers(4)
    audience = member_audience()
    sync = sync_create(actor=None, audience=audience, destination=warehouse_destination)

    first = run_now(sync)
    Profile.objects.filter(pk=members[0].pk).update(traits={"seg": "out"})
    second = run_now(sync)

    assert first.state == second.state == RunState.SUCCEEDED, (first.error, second.error)
    rows = warehouse.member_rows(audience.slug)
    assert [row[0] for row in rows] == ["cus_000001", "cus_000002", "cus_000003"]
    _key, external_id, email, phone, run_id = rows[1]
    assert email == normalise.sha256_hex("person2@example.com")
    assert phone == normalise.sha256_hex("+18005550100")
    assert external_id == normalise.sha256_hex("cus_000002")
    assert run_id == first.pk
    changes = warehouse.changes(audience.slug)
    assert len(changes) == 5
    assert changes[-1] == ("cus_000000", "exited", second.pk)
    assert {change[1] for change in changes[:4]} == {"entered"}
    assert warehouse.staged() == 0
    assert first.match_rate == 1.0


def test_raw_identifiers_are_stored_normalised_when_hashing_is_off(marketer, warehouse):
    destination = destination_create(
        actor=None,
        name="Raw warehouse",
        kind="postgres_warehouse",
        config=warehouse.destination_config(hash_identifiers=False),
    )
    customers(1)
    audience = member_audience()

    run = run_now(sync_create(actor=None, audience=audience, destination=destination))

    assert run.state == RunState.SUCCEEDED, run.error
    assert warehouse.member_rows(audience.slug) == [
        ("cus_000000", "cus_000000", "person0@example.com", "+18005550100", run.pk)
    ]


def test_the_url_is_a_secret_and_the_command_line_validates_the_config(marketer, warehouse):
    call_command(
        "destinations",
        "add",
        "Warehouse CLI",
        "--kind",
        "postgres_warehouse",
        "--config",
        json.dumps(warehouse.destination_config()),
    )

    destination = Destination.objects.get(name="Warehouse CLI")
    assert "url" not in destination.config
    assert destination.get_credentials()["url"] == warehouse.url
    assert destination.config["schema"] == warehouse.schema
    with pytest.raises(ConfigError) as caught:
        PostgresWarehouseAdapter.clean_config({"url": "mysql://x", "schema": "Bad-Name"})
    assert set(caught.value.errors) == {"config.url", "config.schema"}


def test_test_connection_creates_the_tables(warehouse, warehouse_destination):
    adapter = PostgresWarehouseAdapter(warehouse_destination)

    message = adapter.test_connection()

    assert "PostgreSQL" in message
    tables = {
        row[0]
        for row in warehouse.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", [warehouse.schema]
        )
    }
    assert tables == {"schema_info", "audience_members", "membership_changes", "staged_changes"}


def test_tables_from_a_newer_release_are_refused(warehouse, warehouse_destination):
    adapter = PostgresWarehouseAdapter(warehouse_destination)
    adapter.ensure_tables()
    warehouse.query("INSERT INTO {schema}.schema_info (version) VALUES (99) RETURNING version")

    with pytest.raises(PermanentError, match="newer"):
        adapter.ensure_tables()

"""Sandbox fixtures for destination and sync tests (also exported from ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from audience_ops.destinations.sandbox.client import GoogleSandboxClient, MetaSandboxClient, TikTokSandboxClient
from audience_ops.destinations.sandbox.server import start_in_thread


@pytest.fixture
def meta_sandbox():
    """The sandbox served on a free localhost port for one test; yields a client of its Meta emulator.

    ``client.base_url`` is the Meta destination's ``base_url``; ``members(audience_id)``, ``throttle(n, code)``,
    ``fail(n)``, ``hang(n, seconds)``, ``reject_token()``, ``reset()`` and ``request_log()`` inspect and steer it.
    """
    running = start_in_thread()
    try:
        yield MetaSandboxClient(running.url)
    finally:
        running.stop()


@pytest.fixture
def meta_destination(db, meta_sandbox):
    """A Meta destination (email + phone, region US) pointing at the test's sandbox."""
    from audience_ops.destinations.services import destination_create

    return destination_create(
        actor=None,
        name="Meta sandbox",
        kind="meta_custom_audience",
        config=meta_sandbox.destination_config(),
    )


@pytest.fixture
def sandbox_server():
    """Every emulator served on a free localhost port for one test; yields the running server (``url``)."""
    running = start_in_thread()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def tiktok_sandbox(sandbox_server):
    """A client of the test sandbox's TikTok emulator (``base_url``, ``destination_config()``, ``members()``,
    ``throttle()``, ``error()``, ``fail()``, ``hang()``, ``reject_token()``, ``max_rows()``, ``request_log()``)."""
    return TikTokSandboxClient(sandbox_server.url)


@pytest.fixture
def tiktok_destination(db, tiktok_sandbox):
    """A TikTok destination (email + phone, region US) pointing at the test's sandbox."""
    from audience_ops.destinations.services import destination_create

    return destination_create(
        actor=None, name="TikTok sandbox", kind="tiktok_audience", config=tiktok_sandbox.destination_config()
    )


@pytest.fixture
def google_sandbox(sandbox_server, settings):
    """A client of the test sandbox's Google Data Manager emulator (``base_url``, ``destination_config()``,
    ``members()``, ``throttle()``, ``processing()``, ``outcome()``, ``fail()``, ``hang()``, ``request_log()``).

    Status polling starts at 10 ms here, so tests that make the sandbox answer PROCESSING stay fast.
    """
    settings.GOOGLE_STATUS_POLL_INTERVAL = 0.01
    return GoogleSandboxClient(sandbox_server.url)


@pytest.fixture
def google_destination(db, google_sandbox):
    """A Google Customer Match destination (email + phone, default consent traits) on the test's sandbox."""
    from audience_ops.destinations.services import destination_create

    return destination_create(
        actor=None,
        name="Google sandbox",
        kind="google_customer_match",
        config=google_sandbox.destination_config(),
    )


# --- analytics, webhook and warehouse destinations ---------------------------------------------------------


@pytest.fixture
def segment_receiver(sandbox_server):
    """A client of the test sandbox's Segment-Spec receiver (``members(audience)``, ``throttle()``, ``fail()``,
    ``reject_token()``, ``request_log()``, ``destination_config()``)."""
    from audience_ops.destinations.sandbox.event_clients import SegmentReceiverClient

    return SegmentReceiverClient(sandbox_server.url)


@pytest.fixture
def segment_destination(db, segment_receiver):
    from audience_ops.destinations.services import destination_create

    return destination_create(
        actor=None, name="Analytics sandbox", kind="segment_analytics", config=segment_receiver.destination_config()
    )


@pytest.fixture
def webhook_receiver(sandbox_server):
    """A client of the test sandbox's Standard Webhooks receiver (``deliveries()``, ``gone()``, ...)."""
    from audience_ops.destinations.sandbox.event_clients import WebhookReceiverClient

    return WebhookReceiverClient(sandbox_server.url)


@pytest.fixture
def webhook_destination(db, webhook_receiver):
    from audience_ops.destinations.services import destination_create

    return destination_create(
        actor=None, name="Webhook sandbox", kind="webhook", config=webhook_receiver.destination_config()
    )


def _warehouse_server_url() -> str | None:
    """The PostgreSQL server the warehouse tests use: the test database's server, else the local one when it
    answers. None (skip) only when DATABASE_URL is unset and no local server answers."""
    import os

    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    local = os.environ.get("WAREHOUSE_TEST_SERVER_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        psycopg.connect(local, connect_timeout=2).close()
    except psycopg.Error:
        return None
    return local


@pytest.fixture(scope="session")
def warehouse_database():
    """A warehouse database of its own on the PostgreSQL server, created for the session and dropped after."""
    import os
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    server = _warehouse_server_url()
    if server is None:
        pytest.skip("the warehouse destination needs PostgreSQL: no DATABASE_URL and no local server answers")
    name = f"ao_warehouse_test_{os.getpid()}"
    parts = urlsplit(server)
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(scheme="postgresql", path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def warehouse(warehouse_database):
    """A client of a fresh schema in the warehouse database (``config``, ``members(audience)``,
    ``changes(audience)``, ``staged()``, ``query(sql)``); the schema is dropped after the test."""
    import uuid

    import psycopg

    schema = f"wh_{uuid.uuid4().hex[:10]}"
    client = WarehouseClient(warehouse_database, schema)
    try:
        yield client
    finally:
        with psycopg.connect(warehouse_database, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


class WarehouseClient:
    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema

    def destination_config(self, **overrides):
        return {"url": self.url, "schema": self.schema, **overrides}

    def query(self, sql: str, params=None) -> list[tuple]:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            try:
                return conn.execute(sql.replace("{schema}", f'"{self.schema}"'), params or []).fetchall()
            except psycopg.errors.UndefinedTable:
                return []

    def members(self, audience: str) -> list[str]:
        rows = self.query("SELECT profile_key FROM {schema}.audience_members WHERE audience = %s", [audience])
        return sorted(row[0] for row in rows)

    def member_rows(self, audience: str) -> list[tuple]:
        return self.query(
            "SELECT profile_key, external_id, email, phone, run_id FROM {schema}.audience_members "
            "WHERE audience = %s ORDER BY profile_key",
            [audience],
        )

    def changes(self, audience: str) -> list[tuple]:
        return self.query(
            "SELECT profile_key, change, run_id FROM {schema}.membership_changes WHERE audience = %s ORDER BY id",
            [audience],
        )

    def staged(self) -> int:
        rows = self.query("SELECT count(*) FROM {schema}.staged_changes")
        return rows[0][0] if rows else 0


@pytest.fixture
def warehouse_destination(db, warehouse):
    from audience_ops.destinations.services import destination_create

    return destination_create(
        actor=None, name="Warehouse", kind="postgres_warehouse", config=warehouse.destination_config()
    )

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

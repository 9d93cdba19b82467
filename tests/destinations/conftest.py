"""Sandbox fixtures for destination and sync tests (also exported from ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from audience_ops.destinations.sandbox.client import MetaSandboxClient
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

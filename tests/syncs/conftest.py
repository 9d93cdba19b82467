"""Fixtures for sync tests: the fake destination kind, audiences whose membership a test controls."""

from __future__ import annotations

import pytest

from audience_ops.destinations import registry
from audience_ops.destinations.models import Destination
from tests.syncs.fakes import FAKE_KIND, PLATFORM, FakeAdapter


@pytest.fixture
def fake_platform(monkeypatch, settings):
    """The fake destination kind registered, its platform emptied, retries made instant."""
    monkeypatch.setitem(registry._ADAPTERS, FAKE_KIND, FakeAdapter)
    settings.SYNC_RETRY_BASE_SECONDS = 0.001
    settings.SYNC_RETRY_MAX_SECONDS = 0.01
    PLATFORM.reset()
    yield PLATFORM
    PLATFORM.reset()


@pytest.fixture
def fake_destination(db, fake_platform):
    return Destination.objects.create(name="Fake", kind=FAKE_KIND, config={})

"""Fixtures for monitoring tests: the sync tests' fake destination, so syncs run for real without a network."""

from tests.syncs.conftest import fake_destination, fake_platform  # noqa: F401 - shared fixtures

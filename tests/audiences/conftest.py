"""Fixtures for audience tests (helpers live in ``tests/audiences/helpers.py``)."""

from __future__ import annotations

import pytest

from audience_ops.accounts.roles import Role
from tests.audiences.governance import pair, people  # noqa: F401 (lifecycle and QA fixtures)
from tests.conftest import _make_user


@pytest.fixture
def users(db):
    """The owners the spec's examples name: maria (marketer) and ops (ops)."""
    return {"maria": _make_user("maria", Role.MARKETER), "ops": _make_user("ops", Role.OPS)}

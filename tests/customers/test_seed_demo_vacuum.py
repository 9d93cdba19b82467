"""On PostgreSQL a committed demo load is vacuumed, so the engine's index-only scans skip the table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import connection

from audience_ops.customers.bulk_load import demo_data_seed

NOW = datetime(2026, 11, 28, 16, 0, tzinfo=UTC)


def _all_visible_pages(table: str) -> tuple[int, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpages, relallvisible FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True)
def test_a_committed_load_leaves_the_event_pages_all_visible():
    if connection.vendor != "postgresql":
        pytest.skip("VACUUM and the visibility map are PostgreSQL's")
    # when the demo is loaded outside any transaction, as `manage.py seed_demo` does
    demo_data_seed(profiles=300, seed=11, now=NOW, reset=True)
    # then every page of the events table is marked all-visible (a plain COPY leaves none)
    pages, all_visible = _all_visible_pages("customers_event")
    assert pages > 0
    assert all_visible == pages

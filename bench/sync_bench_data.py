"""The data set the sync benchmarks share (``bench_sync.py``, ``bench_destinations.py``): bench profiles
loaded with ``COPY``, the bench owner and audience, and an empty start. One copy, so both benchmarks build
the same kind of profiles and their figures stay comparable.

Every function imports Django lazily: the scripts call them after ``django.setup()``.
"""

from __future__ import annotations

import json
import time
from typing import Any

OWNER = "bench"
COPY_CHUNK = 50_000


def phone_for(index: int) -> str:
    """A distinct valid US number per index, in national format (the adapters parse it against region US)."""
    return f"(212) {200 + index // 10_000:03d}-{index % 10_000:04d}"


def copy_profiles(start: int, count: int, *, traits: dict[str, Any]) -> None:
    """``COPY`` ``count`` profiles numbered from ``start`` (``bench_0000042``, a mixed-case email with a
    trailing space so normalisation has work to do, :func:`phone_for`) with ``traits``, in chunks."""
    from django.db import connection
    from django.utils import timezone

    from audience_ops.customers.models import Profile

    now = timezone.now().isoformat()
    encoded = json.dumps(traits)
    table = Profile._meta.db_table
    columns = "(external_id, email, phone, traits, created_at, updated_at)"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        for chunk_start in range(start, start + count, COPY_CHUNK):
            chunk_end = min(start + count, chunk_start + COPY_CHUNK)
            with raw.copy(f"COPY {table} {columns} FROM STDIN") as copy:
                for i in range(chunk_start, chunk_end):
                    copy.write_row(
                        (f"bench_{i:07d}", f"Bench.Shopper{i}@Example.com ", phone_for(i), encoded, now, now)
                    )


def empty_and_load(members: int, *, traits: dict[str, Any]) -> None:
    """Empty the bench database's customer, audience and sync data, make sure the bench owner exists, and
    load ``members`` profiles with ``traits`` (then ANALYZE, so the first plan is not a guess)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from audience_ops.accounts.roles import Role
    from audience_ops.accounts.services import user_create
    from audience_ops.audiences.models import Audience

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE syncs_ledgerentry, syncs_syncplanitem, syncs_syncrowerror, syncs_rowfailure, syncs_syncrun, "
            "syncs_sync, destinations_destination, customers_profile RESTART IDENTITY CASCADE"
        )
    Audience.objects.all().delete()
    if not get_user_model().objects.filter(username=OWNER).exists():
        user_create(actor=None, username=OWNER, role=Role.MARKETER, email="bench@example.com", password=None)
    started = time.monotonic()
    with transaction.atomic():
        copy_profiles(0, members, traits=traits)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_profile")
    print(f"loaded {members:,} profiles in {time.monotonic() - started:.1f} s", flush=True)


def import_bench_audience(*, slug: str, name: str, purpose: str) -> None:
    """The analytics audience of every profile with ``bench = "in"`` (membership is one cheap scan)."""
    from audience_ops.audiences.services import audience_import

    result = audience_import(
        payload={
            "audiences": [
                {
                    "slug": slug,
                    "name": name,
                    "kind": "targeting",
                    "objective": "analytics",
                    "owner": OWNER,
                    "purpose": purpose,
                    "retire_on": "2030-12-31",
                    "rule": {"attribute": "bench", "op": "eq", "value": "in"},
                }
            ]
        }
    )
    if result.problems:
        raise SystemExit("bench audience refused: " + "; ".join(str(p) for p in result.problems))

"""Set-based planning: membership at ``as_of`` against the ledger gives a run's adds and removals.

Both are computed by the database (``INSERT ... SELECT``), never row by row and never in memory, so planning
a million-member audience costs a few statements. A retired audience has no members: its plan removes
everything the destination holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.services import audience_members_sql
from audience_ops.customers.models import Profile

from .choices import PlanItemState, PlanOp, SyncMode
from .models import LedgerEntry, RowFailure, Sync, SyncPlanItem, SyncRun

EMPTY_MEMBERS_SQL = "SELECT CAST(NULL AS bigint) AS profile_id WHERE 1 = 0"
IDENTIFIER_COLUMNS = {"email": "email", "phone": "phone", "external_id": "external_id"}


@dataclass(frozen=True)
class PlanCounts:
    adds: int
    removes: int


@dataclass(frozen=True)
class PlanPreview:
    """What a run at ``as_of`` would do, computed without writing anything."""

    as_of: dt.datetime
    adds: int
    removes: int
    sample_adds: list[Profile]
    sample_removes: list[int]  # profile ids: a removed profile may no longer exist
    unmatchable_estimate: int  # adds with none of the destination's identifiers stored


def members_sql(sync: Sync, as_of: dt.datetime) -> tuple[str, list[Any]]:
    """SQL (one ``profile_id`` column) of the profiles the destination should hold for ``sync`` at ``as_of``."""
    if sync.audience.status == AudienceStatus.RETIRED:
        return EMPTY_MEMBERS_SQL, []
    return audience_members_sql(audience=sync.audience, now=as_of)


def plan_run(run: SyncRun, as_of: dt.datetime) -> PlanCounts:
    """Store the plan of ``run``: pending adds (members not in the ledger) and, for mirror syncs, pending
    removals (ledger entries no longer members). Rows given up after repeated failures are left out.

    Call inside a transaction: the plan and the run's planned counts commit together.
    """
    sync = run.sync
    sql, params = members_sql(sync, as_of)
    items = SyncPlanItem._meta.db_table
    ledger = LedgerEntry._meta.db_table
    failures = RowFailure._meta.db_table
    table = f"syncs_members_{run.pk}"
    pending = PlanItemState.PENDING
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Room to sort and hash a million ids in memory instead of spilling to disk (this transaction only).
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
        cursor.execute(f"CREATE TEMPORARY TABLE {table} (profile_id bigint PRIMARY KEY)")
        cursor.execute(f"INSERT INTO {table} (profile_id) SELECT DISTINCT m.profile_id FROM ({sql}) AS m", params)
        if connection.vendor == "postgresql":
            cursor.execute(f"ANALYZE {table}")
        cursor.execute(
            f"INSERT INTO {items} (run_id, profile_id, op, state, batch) "
            f"SELECT %s, t.profile_id, %s, %s, NULL FROM {table} AS t "
            f"WHERE NOT EXISTS (SELECT 1 FROM {ledger} AS l WHERE l.sync_id = %s AND l.profile_id = t.profile_id) "
            f"AND NOT EXISTS (SELECT 1 FROM {failures} AS f WHERE f.sync_id = %s AND f.op = %s "
            "AND f.profile_id = t.profile_id AND f.gave_up)",
            [run.pk, PlanOp.ADD, pending, sync.pk, sync.pk, PlanOp.ADD],
        )
        adds = cursor.rowcount
        removes = 0
        if sync.mode == SyncMode.MIRROR:
            cursor.execute(
                f"INSERT INTO {items} (run_id, profile_id, op, state, batch) "
                f"SELECT %s, l.profile_id, %s, %s, NULL FROM {ledger} AS l WHERE l.sync_id = %s "
                f"AND NOT EXISTS (SELECT 1 FROM {table} AS t WHERE t.profile_id = l.profile_id) "
                f"AND NOT EXISTS (SELECT 1 FROM {failures} AS f WHERE f.sync_id = %s AND f.op = %s "
                "AND f.profile_id = l.profile_id AND f.gave_up)",
                [run.pk, PlanOp.REMOVE, pending, sync.pk, sync.pk, PlanOp.REMOVE],
            )
            removes = cursor.rowcount
        # Dropped on success only: on an error the transaction rolls the table back with everything else.
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return PlanCounts(adds=adds, removes=removes)


def plan_preview(sync: Sync, as_of: dt.datetime, *, identifier_types: tuple[str, ...], sample: int = 10) -> PlanPreview:
    """Counts and samples of the plan a run at ``as_of`` would store, by read-only queries."""
    sql, params = members_sql(sync, as_of)
    ledger = LedgerEntry._meta.db_table
    failures = RowFailure._meta.db_table
    profiles = Profile._meta.db_table
    adds_sql = (
        f"SELECT m.profile_id FROM ({sql}) AS m "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ledger} AS l WHERE l.sync_id = %s AND l.profile_id = m.profile_id) "
        f"AND NOT EXISTS (SELECT 1 FROM {failures} AS f WHERE f.sync_id = %s AND f.op = %s "
        "AND f.profile_id = m.profile_id AND f.gave_up)"
    )
    adds_params = [*params, sync.pk, sync.pk, PlanOp.ADD]
    removes_sql = (
        f"SELECT l.profile_id FROM {ledger} AS l WHERE l.sync_id = %s "
        f"AND NOT EXISTS (SELECT 1 FROM ({sql}) AS m WHERE m.profile_id = l.profile_id)"
    )
    removes_params = [sync.pk, *params]
    columns = [IDENTIFIER_COLUMNS[kind] for kind in identifier_types if kind in IDENTIFIER_COLUMNS]
    unusable = " AND ".join(f"COALESCE(p.{column}, '') = ''" for column in columns) or "1 = 1"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({adds_sql}) AS a", adds_params)
        (adds,) = cursor.fetchone()
        cursor.execute(
            f"SELECT a.profile_id FROM ({adds_sql}) AS a ORDER BY a.profile_id LIMIT %s", [*adds_params, sample]
        )
        add_ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT COUNT(*) FROM ({adds_sql}) AS a LEFT JOIN {profiles} AS p ON p.id = a.profile_id "
            f"WHERE p.id IS NULL OR ({unusable})",
            adds_params,
        )
        (unmatchable,) = cursor.fetchone()
        removes = 0
        remove_ids: list[int] = []
        if sync.mode == SyncMode.MIRROR:
            cursor.execute(f"SELECT COUNT(*) FROM ({removes_sql}) AS r", removes_params)
            (removes,) = cursor.fetchone()
            cursor.execute(
                f"SELECT r.profile_id FROM ({removes_sql}) AS r ORDER BY r.profile_id LIMIT %s",
                [*removes_params, sample],
            )
            remove_ids = [row[0] for row in cursor.fetchall()]
    found = Profile.objects.in_bulk(add_ids)
    return PlanPreview(
        as_of=as_of,
        adds=adds,
        removes=removes,
        sample_adds=[found[pk] for pk in add_ids if pk in found],
        sample_removes=remove_ids,
        unmatchable_estimate=unmatchable,
    )

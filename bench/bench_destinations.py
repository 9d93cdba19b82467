#!/usr/bin/env python
"""Throughput per destination kind: a first sync of ``--members`` (default 100,000) and a 1% incremental run.

    createdb -h 127.0.0.1 -U postgres bench_destinations
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_destinations .venv/bin/python bench/bench_destinations.py

It builds its own data set (it deletes every profile, audience, destination and sync of that database: give
it a database of its own): the profiles loaded with one ``COPY`` (mixed-case email with a trailing space,
a valid US phone, an external id, Google's consent traits), an analytics audience selecting a trait, and
one destination per kind: Meta, TikTok and Google on the sandbox (started as a child process on
``--sandbox-port``), the analytics and webhook receivers of the same sandbox, and the PostgreSQL warehouse in
a database of its own on the same server (``<database>_warehouse``, created and dropped by the run).

For each kind, from the same starting membership: run 1 is the first sync of the whole audience; then
``--change`` (default 1%) of the members change (half leave, as many new profiles join) and run 2 sends just
that. Runs go through ``execute_run`` (the job's code path) in this process. Reported per run: wall-clock
seconds, rows sent per second and identifiers per second (rows x identifiers the destination receives per
row), and the engine's phases. Results are printed as a Markdown table and written to ``--json-out``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sync_bench_data import copy_profiles, empty_and_load, import_bench_audience

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "audience_ops.settings.dev")
# Runs execute in this process as a worker would: without DEBUG (which keeps every SQL statement in memory).
os.environ.setdefault("DEBUG", "false")

SLUG = "bench-destination-members"
# Every bench profile is in the audience and consents to Google (so Google sends it like the others).
TRAITS = {"bench": "in", "consent_ad_user_data": True, "consent_ad_personalization": True}
KINDS = ("meta", "tiktok", "google", "warehouse", "analytics", "webhook")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated subset of " + ", ".join(KINDS))
    parser.add_argument("--sandbox-port", type=int, default=8798)
    parser.add_argument("--json-out", default=str(ROOT / "bench" / "results" / "destination_results.json"))
    return parser.parse_args()


def reset(members: int) -> None:
    """Every kind starts from the same membership: the first ``members`` profiles, all in."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM customers_profile WHERE external_id >= %s", [f"bench_{members:07d}"])
        cursor.execute(
            "UPDATE customers_profile SET traits = %s WHERE NOT (traits @> %s)",
            [json.dumps(TRAITS), json.dumps({"bench": "in"})],
        )


def change(members: int, share: float) -> int:
    """Half of ``share`` x members leave, as many new profiles join; returns the number of changes."""
    from django.db import connection, transaction

    leavers = max(1, int(members * share / 2))
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE customers_profile SET traits = %s WHERE id IN "
                "(SELECT id FROM customers_profile ORDER BY id LIMIT %s)",
                [json.dumps({"bench": "out"}), leavers],
            )
        copy_profiles(members, leavers, traits=TRAITS)
    return leavers * 2


def setup(members: int) -> None:
    empty_and_load(members, traits=TRAITS)
    import_bench_audience(
        slug=SLUG, name="Bench destination members", purpose="Destination benchmark: every profile with the bench trait"
    )


def destination_for(kind: str, sandbox_url: str, warehouse_url: str):
    from audience_ops.destinations.sandbox.client import GoogleSandboxClient, MetaSandboxClient, TikTokSandboxClient
    from audience_ops.destinations.sandbox.event_clients import SegmentReceiverClient, WebhookReceiverClient
    from audience_ops.destinations.services import destination_create

    kinds = {
        "meta": ("meta_custom_audience", MetaSandboxClient(sandbox_url).destination_config()),
        "tiktok": ("tiktok_audience", TikTokSandboxClient(sandbox_url).destination_config()),
        "google": ("google_customer_match", GoogleSandboxClient(sandbox_url).destination_config()),
        "warehouse": ("postgres_warehouse", {"url": warehouse_url, "schema": "bench"}),
        "analytics": ("segment_analytics", SegmentReceiverClient(sandbox_url).destination_config()),
        "webhook": ("webhook", WebhookReceiverClient(sandbox_url).destination_config()),
    }
    real_kind, config = kinds[kind]
    return destination_create(actor=None, name=f"bench {kind}", kind=real_kind, config=config)


def run_once(sync) -> dict[str, Any]:
    from audience_ops.destinations.registry import adapter_for
    from audience_ops.syncs.runner import execute_run
    from audience_ops.syncs.services import sync_request_run

    identifiers = len(adapter_for(sync.destination).capabilities.identifier_types)
    started = time.monotonic()
    run = execute_run(sync_request_run(actor=None, sync=sync, enqueue=False).pk)
    seconds = time.monotonic() - started
    rows = run.added + run.removed
    if run.state != "succeeded":
        raise SystemExit(f"run {run.pk} of {sync.destination.name} {run.state}: {run.error}")
    return {
        "seconds": round(seconds, 2),
        "rows": rows,
        "rows_per_second": round(rows / seconds) if seconds else None,
        "identifiers_per_second": round(rows * identifiers / seconds) if seconds else None,
        "phases": run.phase_seconds,
        # Runs share this process, so this is the process's peak so far (it must not grow with the audience).
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database of the benchmark's own.")
    import django

    django.setup()
    import psycopg
    from django.conf import settings

    settings.SYNC_GUARDRAIL_MIN_ROWS = 10**12  # measure sending, not the large-change hold
    settings.GOOGLE_STATUS_POLL_INTERVAL = 0.01
    parts = urlsplit(url)
    warehouse_db = parts.path.lstrip("/") + "_warehouse"
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{warehouse_db}"')
        conn.execute(f'CREATE DATABASE "{warehouse_db}"')
    warehouse_url = urlunsplit(parts._replace(scheme="postgresql", path=f"/{warehouse_db}"))
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    sandbox = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "run_sandbox", "--port", str(args.sandbox_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results: list[dict[str, Any]] = []
    try:
        time.sleep(2)
        from audience_ops.audiences.models import Audience
        from audience_ops.syncs.choices import SyncMode
        from audience_ops.syncs.services import sync_create

        setup(args.members)
        audience = Audience.objects.get(slug=SLUG)
        for kind in args.kinds.split(","):
            reset(args.members)
            destination = destination_for(kind, sandbox_url, warehouse_url)
            sync = sync_create(actor=None, audience=audience, destination=destination, mode=SyncMode.MIRROR)
            first = run_once(sync)
            changed = change(args.members, args.change)
            incremental = run_once(sync)
            results.append({"kind": kind, "first": first, "changed": changed, "incremental": incremental})
            print(f"{kind}: first {first['seconds']} s, incremental {incremental['seconds']} s", flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{warehouse_db}" WITH (FORCE)')
    print()
    print(
        f"| destination | first sync of {args.members:,}: s | rows/s | identifiers/s | ledger s | "
        "1% incremental: s | rows | peak RSS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        first, inc = r["first"], r["incremental"]
        print(
            f"| {r['kind']} | {first['seconds']} | {first['rows_per_second']:,} | {first['identifiers_per_second']:,} "
            f"| {first['phases'].get('ledger', 0):.1f} | {inc['seconds']} | {inc['rows']:,} | "
            f"{inc['peak_rss_mb']:.0f} MB |"
        )
    Path(args.json_out).write_text(json.dumps({"members": args.members, "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()

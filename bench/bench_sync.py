#!/usr/bin/env python
"""Benchmark the sync engine on PostgreSQL against the Meta sandbox on localhost.

    createdb -h 127.0.0.1 -U postgres bench_sync
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_sync .venv/bin/python bench/bench_sync.py

It builds its own data set (and so deletes every profile, audience, destination and sync of that database;
give it a database of its own): ``--members`` profiles (default 1,000,000) loaded with one ``COPY``, each
with an email (mixed case, with a trailing space, so normalisation has work to do) and a valid US phone, and
the trait ``bench = "in"``; an analytics audience selecting that trait, so membership is one cheap scan; a
Meta destination sending both identifiers to a sandbox started on ``--sandbox-port``; a manual mirror sync.

Then it measures three runs of ``manage.py syncs run`` (exactly the job's code path) as child processes:

1. the first sync of the whole audience;
2. an incremental run after ``--change`` (default 1%) of the members changed: half of them left the audience
   (their trait flipped) and as many new profiles joined;
3. a re-run with nothing changed (it must make no data call).

For each: wall-clock seconds of the process, identifiers sent per second end to end (rows sent x identifiers
per row / wall time), the engine's own phase timings (plan; prepare = load + normalise + hash; send; ledger),
and the peak RSS of the process (``wait4``), which must not grow with the audience. Results are printed as a
Markdown table and written to ``--json-out``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sync_bench_data import copy_profiles, empty_and_load, import_bench_audience

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "audience_ops.settings.dev")

SLUG = "bench-sync-members"
DESTINATION = "Meta sandbox (bench)"
IDENTIFIERS_PER_ROW = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000, help="audience size of the first sync")
    parser.add_argument("--change", type=float, default=0.01, help="share of members changed before run 2")
    parser.add_argument("--sandbox-port", type=int, default=8799, help="localhost port for the Meta sandbox")
    parser.add_argument("--json-out", default=str(ROOT / "bench" / "results" / "sync_results.json"))
    return parser.parse_args()


# --- data set ----------------------------------------------------------------------------------------------


def reset_and_load(members: int, sandbox_url: str) -> None:
    """Empty the bench database's customer and sync data, load the profiles, create audience, destination, sync."""
    from audience_ops.audiences.models import Audience
    from audience_ops.destinations.services import destination_create
    from audience_ops.syncs.choices import SyncMode
    from audience_ops.syncs.services import sync_create

    empty_and_load(members, traits={"bench": "in"})
    import_bench_audience(
        slug=SLUG, name="Bench sync members", purpose="Sync benchmark: every profile with the bench trait"
    )
    from audience_ops.destinations.sandbox import meta as meta_sandbox

    destination = destination_create(
        actor=None,
        name=DESTINATION,
        kind="meta_custom_audience",
        config={
            "base_url": sandbox_url.rstrip("/") + meta_sandbox.API_PREFIX,
            "api_version": "v25.0",
            "ad_account_id": "1000000000099",
            "access_token": "sandbox-bench-token-not-a-secret",
            "identifiers": ["email", "phone"],
            "phone_region": "US",
        },
    )
    sync_create(actor=None, audience=Audience.objects.get(slug=SLUG), destination=destination, mode=SyncMode.MIRROR)


def change_members(members: int, share: float) -> tuple[int, int]:
    """Half of ``share`` of the members leave (trait flipped), as many new profiles join; returns (left, joined)."""
    from django.db import connection, transaction

    changed = max(2, int(members * share))
    leaving = changed // 2
    joining = changed - leaving
    step = max(1, members // leaving)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE customers_profile SET traits = %s::jsonb WHERE id IN "
            "(SELECT id FROM customers_profile WHERE traits ->> 'bench' = 'in' AND id %% %s = 0 ORDER BY id LIMIT %s)",
            [json.dumps({"bench": "out"}), step, leaving],
        )
        left = cursor.rowcount
        copy_profiles(members + 1_000_000, joining, traits={"bench": "in"})
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_profile")
    return left, joining


# --- runs --------------------------------------------------------------------------------------------------


def timed_sync_run(label: str) -> dict[str, Any]:
    """``manage.py syncs run`` as a child process: wall time, peak RSS (wait4) and the run's own figures."""
    from audience_ops.syncs.models import SyncRun

    command = [sys.executable, str(ROOT / "manage.py"), "syncs", "run", SLUG, DESTINATION]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # A worker runs without DEBUG (with it, Django keeps the last 9,000 SQL statements in memory).
        env = {**os.environ, "DEBUG": "false"}
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        raise SystemExit(f"{label}: syncs run exited {process.returncode}\n{stdout}\n{stderr[-4000:]}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    run = SyncRun.objects.get(pk=summary["run"])
    sent = run.added + run.removed
    phases = {key: float(run.phase_seconds.get(key, 0.0)) for key in ("plan", "prepare", "send", "ledger")}
    return {
        "run": label,
        "planned_adds": run.planned_adds,
        "planned_removes": run.planned_removes,
        "added": run.added,
        "removed": run.removed,
        "unmatchable": run.unmatchable,
        "invalid": run.invalid,
        "failed": run.failed_rows,
        "match_rate": run.match_rate,
        "wall_seconds": round(wall, 2),
        "run_seconds": run.duration_seconds,
        "identifiers_sent": sent * IDENTIFIERS_PER_ROW,
        "identifiers_per_second": round(sent * IDENTIFIERS_PER_ROW / wall) if wall else None,
        "phases": phases,
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| run | adds | removes | wall s | identifiers/s | plan s | prepare s | send s | ledger s | peak RSS | match |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        p = row["phases"]
        match = f"{row['match_rate']:.1%}" if row["match_rate"] is not None else "—"
        lines.append(
            f"| {row['run']} | {row['added']:,} | {row['removed']:,} | {row['wall_seconds']:.1f} | "
            f"{row['identifiers_per_second'] or 0:,} | {p['plan']:.1f} | {p['prepare']:.1f} | {p['send']:.1f} | "
            f"{p['ledger']:.1f} | {row['peak_rss_mb']:.0f} MB | {match} |"
        )
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from audience_ops.core.embedded import port_is_open
    from audience_ops.destinations.sandbox.process import start_sandbox_process

    if connection.vendor != "postgresql":
        raise SystemExit("bench_sync needs PostgreSQL: set DATABASE_URL to a database of its own (bench_sync)")
    call_command("migrate", interactive=False, verbosity=0)
    if port_is_open("127.0.0.1", args.sandbox_port):
        raise SystemExit(f"port {args.sandbox_port} is in use; pick another with --sandbox-port")
    sandbox_url = f"http://127.0.0.1:{args.sandbox_port}"
    sandbox = start_sandbox_process(sandbox_url, log_dir=Path(tempfile.gettempdir()))
    try:
        reset_and_load(args.members, sandbox_url)
        rows = [timed_sync_run(f"first sync, {args.members:,} members")]
        print(json.dumps(rows[-1]), flush=True)
        left, joined = change_members(args.members, args.change)
        rows.append(timed_sync_run(f"incremental, {left:,} left + {joined:,} joined"))
        print(json.dumps(rows[-1]), flush=True)
        rows.append(timed_sync_run("re-run, nothing changed"))
        print(json.dumps(rows[-1]), flush=True)
    finally:
        if sandbox is not None:
            sandbox.terminate()
            sandbox.wait(timeout=30)
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        (pg_version,) = cursor.fetchone()
    result = {
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "members": args.members,
        "change": args.change,
        "postgres": pg_version.split(" on ")[0],
        "load_average": os.getloadavg(),
        "batch_size_setting": getattr(settings, "SYNC_MAX_BATCH_SIZE", 0),
        "runs": rows,
    }
    Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(rows))
    print(f"load average {os.getloadavg()}; results in {args.json_out}")


if __name__ == "__main__":
    main()

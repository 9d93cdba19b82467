#!/usr/bin/env python
"""Benchmark ``seed_demo``: load N demo profiles (with --reset) into the configured database and report speed.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_seed .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_seed .venv/bin/python bench/bench_seed_demo.py \\
        --profiles 1000000

It deletes every profile and event in that database first (that is what ``--reset`` does), so point it at a
database of its own. The figures are wall-clock for the whole command: generation, COPY, index rebuild,
foreign-key check, ANALYZE and commit. The load average is printed too, because a busy machine skews them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from io import StringIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "audience_ops.settings.dev")


class _Elapsed:
    """A stream that stamps each line the command writes with the seconds since the start."""

    def __init__(self, started: float) -> None:
        self.started = started

    def write(self, text: str) -> None:
        for line in text.splitlines():
            if line.strip():
                print(f"[{time.perf_counter() - self.started:7.1f} s] {line.strip()}", file=sys.stderr, flush=True)

    def flush(self) -> None:
        sys.stderr.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--now", default="2026-11-28T16:00:00Z", help="fixed, so runs load identical data")
    parser.add_argument("--rebuild-indexes", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    parser.add_argument("--progress", action="store_true", help="print progress with elapsed seconds on stderr")
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audience_ops.customers.models import Event, Profile

    load_before = os.getloadavg()
    started = time.perf_counter()
    progress = _Elapsed(started) if args.progress else StringIO()
    call_command(
        "seed_demo",
        f"--profiles={args.profiles}",
        f"--seed={args.seed}",
        f"--now={args.now}",
        f"--rebuild-indexes={args.rebuild_indexes}",
        "--reset",
        f"--verbosity={2 if args.progress else 1}",
        stdout=progress,
        stderr=progress,
    )
    seconds = time.perf_counter() - started
    load_after = os.getloadavg()

    profiles = Profile.objects.count()
    events = Event.objects.count()
    result = {
        "database": f"{connection.vendor}:{connection.settings_dict['NAME']}",
        "profiles": profiles,
        "events": events,
        "seconds": round(seconds, 1),
        "rows_per_second": round((profiles + events) / seconds),
        "events_per_second": round(events / seconds),
        "cpus": os.cpu_count(),
        "load_average_before": round(load_before[0], 2),
        "load_average_after": round(load_after[0], 2),
    }
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
            result["database_size"] = cursor.fetchone()[0]
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>22}: {value:,}" if isinstance(value, int) else f"{key:>22}: {value}")


if __name__ == "__main__":
    main()

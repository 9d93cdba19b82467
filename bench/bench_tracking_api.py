"""Sustained throughput of the tracking API: batches of track messages posted to a real gunicorn.

What it does, and nothing more:

1. ``migrate`` the database of ``DATABASE_URL`` (default: the embedded SQLite) and create a write key;
2. start ``gunicorn audience_ops.wsgi`` on 127.0.0.1 (``--workers``) with ``DEBUG=false``, and stop it
   at the end;
3. post ``--batches`` batches of ``--batch-size`` track messages from ``--threads`` client threads
   (``requests``, HTTP Basic write key, optionally gzipped), after a short warm-up that is not timed;
4. print sustained events/s (events stored / wall time) and the request latencies.

It writes into the configured database (profiles ``bench-user-*`` and their events), so point
``DATABASE_URL`` at a throwaway database::

    createdb -h 127.0.0.1 -U postgres bench_tracking
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_tracking .venv/bin/python bench/bench_tracking_api.py
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from random import Random

import requests

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=200, help="timed batches (default 200)")
    parser.add_argument("--batch-size", type=int, default=500, help="track messages per batch (default 500)")
    parser.add_argument("--threads", type=int, default=2, help="client threads posting batches (default 2)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="gunicorn worker processes (default: one per CPU)"
    )
    parser.add_argument("--users", type=int, default=50_000, help="distinct userIds to draw from (default 50,000)")
    parser.add_argument("--gzip", action="store_true", help="send gzipped bodies (as RudderStack's library does)")
    parser.add_argument("--port", type=int, default=0, help="port for gunicorn (default: a free one)")
    args = parser.parse_args()

    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "audience_ops.settings.dev", "DEBUG": "false"}
    os.environ.update(environment)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from audience_ops.customers.models import Event
    from audience_ops.customers.writekeys import writekey_create

    call_command("migrate", interactive=False, verbosity=0)
    _key, write_key = writekey_create(actor=None, name=f"bench {uuid.uuid4().hex[:8]}")
    events_before = Event.objects.count()
    database = connection.vendor
    connection.close()

    port = args.port or _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "audience_ops.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=environment,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server)
        payloads = _Payloads(batch_size=args.batch_size, users=args.users)
        warm_up = [payloads.body(gzip_body=args.gzip) for _ in range(max(args.threads * 2, 4))]
        bodies = [payloads.body(gzip_body=args.gzip) for _ in range(args.batches)]
        _post_all(url, write_key, warm_up, threads=args.threads, gzipped=args.gzip)
        started = time.perf_counter()
        latencies = _post_all(url, write_key, bodies, threads=args.threads, gzipped=args.gzip)
        elapsed = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)

    stored = Event.objects.count() - events_before
    sent = args.batches * args.batch_size
    print(f"database: {database}; gunicorn workers: {args.workers}; client threads: {args.threads}; gzip: {args.gzip}")
    print(f"timed: {args.batches} batches x {args.batch_size} track messages = {sent:,} events in {elapsed:.2f} s")
    print(f"sustained: {sent / elapsed:,.0f} events/s ({args.batches / elapsed:.1f} requests/s)")
    print(
        f"request latency: median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p95 {_percentile(latencies, 95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )
    print(f"events stored during the run (warm-up included): {stored:,}")


class _Payloads:
    """Batch bodies, built before the clock starts: unique messageIds, userIds drawn from a fixed pool."""

    def __init__(self, *, batch_size: int, users: int) -> None:
        self.batch_size = batch_size
        self.users = users
        self._random = Random(7)

    def body(self, *, gzip_body: bool) -> bytes:
        run = uuid.uuid4().hex
        batch = [
            {
                "type": "track",
                "userId": f"bench-user-{self._random.randrange(self.users)}",
                "anonymousId": None,
                "event": "Product Viewed" if n % 3 else "Order Completed",
                "properties": {"sku": f"SKU-{n % 97}", "price": 19.5, "category": "coffee"},
                "timestamp": "2025-06-01T12:00:00Z",
                "messageId": f"{run}-{n}",
                "context": {"library": {"name": "bench", "version": "1"}},
            }
            for n in range(self.batch_size)
        ]
        data = json.dumps({"batch": batch}, separators=(",", ":")).encode()
        return gzip.compress(data, compresslevel=5) if gzip_body else data


def _post_all(url: str, write_key: str, bodies: list[bytes], *, threads: int, gzipped: bool) -> list[float]:
    """Post every body to /v1/batch from ``threads`` threads; fail loudly on any non-200."""
    pending = list(bodies)
    pending_lock = threading.Lock()
    latencies: list[float] = []

    def worker() -> None:
        session = requests.Session()
        session.auth = (write_key, "")
        headers = {"Content-Type": "application/json", **({"Content-Encoding": "gzip"} if gzipped else {})}
        while True:
            with pending_lock:
                if not pending:
                    return
                body = pending.pop()
            started = time.perf_counter()
            response = session.post(f"{url}/v1/batch", data=body, headers=headers, timeout=120)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for future in [pool.submit(worker) for _ in range(threads)]:
            future.result()
    return latencies


def _wait_until_up(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with status {server.returncode}")
        try:
            if requests.get(f"{url}/healthz", timeout=10).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or too busy booting to answer
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 120 s")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], percent: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(percent / 100 * (len(ordered) - 1)))]


if __name__ == "__main__":
    main()

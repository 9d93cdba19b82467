#!/usr/bin/env python
"""Benchmark the audience engine on PostgreSQL: ``audiences members``/``evaluate`` against hand-written SQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_seed .venv/bin/python bench/bench_engine.py

For every audience of ``bench/audiences_bench.json`` (imported first with ``manage.py audiences import``;
the owner ``bench`` is created with ``manage.py users add`` when missing) it measures, at a fixed
``--as-of``:

- the engine's member-id statement (``audience_members_sql``) and a hand-written SELECT of the same ids,
  executed and fetched the same way (one cursor, every row fetched); the two id sets must be equal;
- the CSV-row statement of ``audience_member_rows`` (ORDER BY, streamed through a server-side cursor like
  the command does) and the hand-written ids wrapped in the same projection and ORDER BY;
- ``manage.py audiences members SLUG`` (CSV to /dev/null), ``audiences evaluate SLUG`` on an audience
  without spans (materialises every member) and a second ``evaluate`` right after it (nothing changed),
  each as a child process with its wall-clock time and peak RSS (``wait4``);
- ``EXPLAIN (ANALYZE, BUFFERS)`` of the engine statement, written to ``--explain-out``.

SQL timings are the median of ``--repeat`` runs after one warm-up run (warm cache); process timings are the
median of ``--repeat`` runs. A statement still running after ``--timeout`` seconds is cancelled (the
benchmark cancels its own and its commands' sessions; ``statement_timeout`` is set too, as a backstop): the
measurement is reported as ``>T`` and not repeated. The benchmark deletes the audience's spans and snapshots
before each first ``evaluate``, so point it at a database of its own. Results and findings:
``bench/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "audience_ops.settings.dev")

DEFAULT_AS_OF = "2026-11-28T16:00:00Z"
OWNER = "bench"
STATEMENT_TIMEOUT = "canceling statement due to statement timeout"

# Event names of the hand-written SQL, which mirrors the definitions in bench/audiences_bench.json.
ORDER = "Order Completed"
ADDED = "Product Added"
VIEWED = "Product Viewed"


# --- hand-written SQL --------------------------------------------------------------------------------------
#
# Each function returns one SELECT of the member ids (column ``profile_id``) with ``%s`` parameters, written
# the way a person would for that one audience: straight from the event index, no pass over the profile
# table unless a trait is needed (``customers_event.profile_id`` is a NOT NULL foreign key, so every id there
# is an existing profile), ``last`` as one GROUP BY ... HAVING MAX(), exclusions and the paired suppression
# as EXCEPT. They apply every condition of the definition, the suppression included even where a rule
# condition implies it, so that they are the same query, not a cleverer one.


def _window(now: dt.datetime, **delta: float) -> tuple[dt.datetime, dt.datetime]:
    return now - dt.timedelta(**delta), now


def _events(name: str, lower: dt.datetime, upper: dt.datetime, alias: str = "e") -> tuple[str, list[Any]]:
    sql = (
        f"SELECT {alias}.profile_id FROM customers_event AS {alias} "
        f"WHERE {alias}.name = %s AND {alias}.occurred_at > %s AND {alias}.occurred_at <= %s"
    )
    return sql, [name, lower, upper]


def hand_purchased_24h(now: dt.datetime) -> tuple[str, list[Any]]:
    sql, params = _events(ORDER, *_window(now, hours=24))
    return f"SELECT DISTINCT q.profile_id FROM ({sql}) AS q", params


def hand_cart_abandoners_3d(now: dt.datetime) -> tuple[str, list[Any]]:
    added, added_params = _events(ADDED, *_window(now, days=3), alias="e")
    ordered, ordered_params = _events(ORDER, *_window(now, days=3), alias="o")
    suppressed, suppressed_params = _events(ORDER, *_window(now, hours=24), alias="s")
    # The trait is read per candidate (a correlated lookup by primary key), not by scanning every profile.
    sql = (
        f"SELECT a.profile_id FROM ({added} EXCEPT {ordered} EXCEPT {suppressed}) AS a "
        "WHERE (SELECT u.traits -> 'unsubscribed' FROM customers_profile AS u WHERE u.id = a.profile_id) "
        "IS DISTINCT FROM 'true'::jsonb"
    )
    return sql, [*added_params, *ordered_params, *suppressed_params]


def hand_coffee_replenish(now: dt.datetime) -> tuple[str, list[Any]]:
    suppressed, suppressed_params = _events(ORDER, *_window(now, hours=24), alias="s")
    sql = (
        "SELECT c.profile_id FROM ("
        "SELECT e.profile_id FROM customers_event AS e WHERE e.name = %s AND e.occurred_at > %s "
        "AND e.occurred_at <= %s AND e.properties -> 'category' = '\"coffee\"'::jsonb "
        "GROUP BY e.profile_id HAVING MAX(e.occurred_at) <= %s "
        f"EXCEPT {suppressed}) AS c"
    )
    return sql, [ORDER, now - dt.timedelta(days=45), now, now - dt.timedelta(days=25), *suppressed_params]


def _active_7d(now: dt.datetime) -> tuple[str, list[Any]]:
    lower, upper = _window(now, days=7)
    sql = (
        "SELECT a.profile_id FROM customers_event AS a WHERE a.name IN (%s, %s, %s) "
        "AND a.occurred_at > %s AND a.occurred_at <= %s"
    )
    return sql, [VIEWED, ADDED, ORDER, lower, upper]


def hand_active_7d(now: dt.datetime) -> tuple[str, list[Any]]:
    sql, params = _active_7d(now)
    return f"SELECT DISTINCT q.profile_id FROM ({sql}) AS q", params


def hand_winback_90_180(now: dt.datetime) -> tuple[str, list[Any]]:
    active, active_params = _active_7d(now)
    suppressed, suppressed_params = _events(ORDER, *_window(now, hours=24), alias="s")
    sql = (
        "SELECT w.profile_id FROM ("
        "SELECT e.profile_id FROM customers_event AS e WHERE e.name = %s AND e.occurred_at > %s "
        "AND e.occurred_at <= %s GROUP BY e.profile_id HAVING MAX(e.occurred_at) <= %s "
        f"EXCEPT {active} EXCEPT {suppressed}) AS w"
    )
    params = [ORDER, now - dt.timedelta(days=180), now, now - dt.timedelta(days=90)]
    return sql, [*params, *active_params, *suppressed_params]


VIP_GOLD = "p.traits -> 'vip_tier' = '\"gold\"'::jsonb"


def hand_vip_gold(now: dt.datetime) -> tuple[str, list[Any]]:
    return f"SELECT p.id AS profile_id FROM customers_profile AS p WHERE {VIP_GOLD}", []


HAND_IDS: dict[str, Callable[[dt.datetime], tuple[str, list[Any]]]] = {
    "purchased-24h": hand_purchased_24h,
    "cart-abandoners-3d": hand_cart_abandoners_3d,
    "coffee-replenish": hand_coffee_replenish,
    "active-7d": hand_active_7d,
    "winback-90-180": hand_winback_90_180,
    "vip-gold": hand_vip_gold,
}

# The CSV row of ``audiences members`` for profile ``p``: the same columns in the same byte order, "" when absent,
# the smallest anonymous id for an anonymous profile.
CSV_COLUMNS = (
    "COALESCE(p.external_id, '') COLLATE \"C\" AS external_id, COALESCE(p.email, '') COLLATE \"C\" AS email, "
    "COALESCE(p.phone, '') COLLATE \"C\" AS phone, "
    "CASE WHEN p.external_id IS NULL OR p.external_id = '' THEN COALESCE("
    "(SELECT MIN(a.anonymous_id COLLATE \"C\") FROM customers_anonymousid AS a WHERE a.profile_id = p.id), '') "
    "ELSE '' END AS anonymous_id, p.id AS id"
)
CSV_ORDER = "ORDER BY r.external_id, r.email, r.phone, r.anonymous_id, r.id"


def hand_rows_sql(slug: str, ids_sql: str) -> str:
    """The CSV rows over the hand-written ids, joined to the profiles the way that is fastest for ``slug``.

    By default a join (PostgreSQL picks the method); for the cart abandoners, whose few thousand ids the
    planner would otherwise hash against a full scan of the profiles, one primary-key lookup per id; for the
    VIP tier, whose ids come from a scan of the profiles anyway, that same scan projects the columns.
    """
    select = "SELECT r.external_id, r.email, r.phone, r.anonymous_id FROM "
    if slug == "vip-gold":
        return f"{select}(SELECT {CSV_COLUMNS} FROM customers_profile AS p WHERE {VIP_GOLD}) AS r {CSV_ORDER}"
    if slug == "cart-abandoners-3d":
        # OFFSET 0 keeps the subquery from being flattened into a join: it runs once per id, by primary key.
        lookup = f"SELECT {CSV_COLUMNS} FROM customers_profile AS p WHERE p.id = m.profile_id OFFSET 0"
        return f"{select}({ids_sql}) AS m CROSS JOIN LATERAL ({lookup}) AS r {CSV_ORDER}"
    joined = f"SELECT {CSV_COLUMNS} FROM ({ids_sql}) AS m JOIN customers_profile AS p ON p.id = m.profile_id"
    return f"{select}({joined}) AS r {CSV_ORDER}"


# --- measurements ------------------------------------------------------------------------------------------


class TimedOut(Exception):
    """A statement ran past ``--timeout`` and was cancelled."""


@dataclass
class Runs:
    """Wall-clock seconds of the runs of one measurement; ``timed_out`` when one ran past the timeout."""

    seconds: list[float] = field(default_factory=list)
    peak_rss_mb: list[float] = field(default_factory=list)
    timed_out: bool = False
    skipped: str = ""

    def median(self) -> float | None:
        return statistics.median(self.seconds) if self.seconds and not self.timed_out else None


@dataclass
class AudienceResult:
    slug: str
    members: int | None = None
    hand_members: int | None = None
    ids_match: bool | None = None
    rows_match: bool | None = None
    engine_ids: Runs = field(default_factory=Runs)
    hand_ids: Runs = field(default_factory=Runs)
    engine_rows: Runs = field(default_factory=Runs)
    hand_rows: Runs = field(default_factory=Runs)
    members_cli: Runs = field(default_factory=Runs)
    evaluate_first: Runs = field(default_factory=Runs)
    evaluate_second: Runs = field(default_factory=Runs)
    evaluate_output: str = ""


class Deadline:
    """Cancels this process's statement after ``seconds``.

    ``statement_timeout`` alone is not enough: a server-side cursor declared outside a transaction (``WITH
    HOLD``, what Django's ``chunked_cursor`` does in autocommit mode) is materialised while the statement
    commits, where the timeout no longer applies.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def run(self, work: Callable[[], Any]) -> Any:
        from django.db import OperationalError, connection

        connection.ensure_connection()
        raw = connection.connection
        fired = threading.Event()

        def cancel() -> None:
            fired.set()
            raw.cancel_safe()

        timer = threading.Timer(self.seconds, cancel)
        timer.start()
        try:
            return work()
        except OperationalError as exc:
            if fired.is_set() or STATEMENT_TIMEOUT in str(exc):
                raise TimedOut from exc
            raise
        finally:
            timer.cancel()


def time_sql(work: Callable[[], Any], *, deadline: Deadline, repeat: int, warmup: bool = True) -> tuple[Runs, Any]:
    """Run ``work`` once to warm the cache (unless ``warmup`` is False), then ``repeat`` timed times."""
    runs = Runs()
    result = None
    try:
        if warmup:
            result = deadline.run(work)
        for _ in range(repeat):
            started = time.perf_counter()
            result = deadline.run(work)
            runs.seconds.append(time.perf_counter() - started)
    except TimedOut:
        runs.timed_out = True
    return runs, result


def fetch_ids(sql: str, params: list[Any]) -> list[int]:
    """Every id of ``sql`` through one ordinary cursor (the driver's client-side parameter binding)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def digest_rows(rows: Iterable[tuple]) -> tuple[int, str]:
    """Consume streamed rows; their count and a digest of their order and content."""
    digest = hashlib.sha256()
    count = 0
    for row in rows:
        digest.update(repr(row).encode())
        count += 1
    return count, digest.hexdigest()


def stream_sql(sql: str, params: list[Any], chunk_size: int = 2000) -> Iterator[tuple]:
    """Rows through a server-side cursor fetched in chunks, as ``audience_member_rows`` reads them."""
    from django.db import connection

    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size):
            yield from rows


def explain(sql: str, params: list[Any], *, analyze: bool) -> str:
    from django.db import connection

    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(prefix + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


@dataclass
class Finished:
    seconds: float
    peak_rss_mb: float
    code: int
    stderr: str
    timed_out: bool


# Runs the command from a small, freshly started interpreter and reports the command's own wall-clock time and
# peak RSS on its last stderr line. Forking the command straight from this (large) benchmark process would
# not do: Linux counts the pages of the forked copy, before exec, in the child's ru_maxrss.
_LAUNCHER = """
import os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_pid, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
sys.stderr.write(f"\\n{sys.argv[1]} {os.waitstatus_to_exitcode(status)} {seconds} {usage.ru_maxrss}\\n")
"""
_LAUNCHER_TAG = "bench-engine-launcher"


def run_command(args: list[str], *, timeout: float | None = None, stdout: Any = subprocess.DEVNULL) -> Finished:
    """Run ``manage.py ARGS`` as a child process: its wall-clock time, peak RSS, exit status and stderr.

    After ``timeout`` seconds the child's statements are cancelled: its connection is found by the
    application name given to it through ``PGAPPNAME``, so only this benchmark's own sessions are touched.
    """
    name = f"bench_engine_{os.getpid()}_{next(_CHILDREN)}"
    command = [sys.executable, "-c", _LAUNCHER, _LAUNCHER_TAG, sys.executable, str(ROOT / "manage.py"), *args]
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=errors, env={**os.environ, "PGAPPNAME": name})
        cancelled = False
        while process.poll() is None:
            elapsed = time.perf_counter() - started
            if timeout is not None and not cancelled and elapsed > timeout:
                _cancel_sessions(name, "pg_cancel_backend")
                cancelled = True
            elif cancelled and timeout is not None and elapsed > timeout + 60:
                _cancel_sessions(name, "pg_terminate_backend")
            time.sleep(0.005)
        errors.seek(0)
        text = errors.read().decode(errors="replace")
    text, _newline, report = text.rstrip("\n").rpartition("\n")
    tag, code, seconds, max_rss = report.split()
    if tag != _LAUNCHER_TAG:
        raise SystemExit(f"the launcher of manage.py {' '.join(args)} failed:\n{text}\n{report}")
    # ru_maxrss is in kilobytes on Linux, in bytes on macOS.
    rss_mb = int(max_rss) / (1024 * 1024 if sys.platform == "darwin" else 1024)
    timed_out = int(code) != 0 and (cancelled or STATEMENT_TIMEOUT in text)
    return Finished(float(seconds), rss_mb, int(code), text, timed_out)


_CHILDREN = itertools.count(1)


def _cancel_sessions(application_name: str, function: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {function}(pid) FROM pg_stat_activity WHERE application_name = %s AND pid <> pg_backend_pid()",
            [application_name],
        )


def time_command(args: list[str], *, repeat: int, timeout: float) -> Runs:
    """``repeat`` runs of ``manage.py ARGS``; stops at the first one that runs past ``timeout``."""
    runs = Runs()
    for _ in range(repeat):
        finished = run_command(args, timeout=timeout)
        if finished.timed_out:
            runs.timed_out = True
            return runs
        if finished.code != 0:
            raise SystemExit(f"manage.py {' '.join(args)} failed ({finished.code}):\n{finished.stderr}")
        runs.seconds.append(finished.seconds)
        runs.peak_rss_mb.append(finished.peak_rss_mb)
    return runs


def reset_materialisation(slug: str) -> None:
    """Forget every span and snapshot of ``slug`` so the next ``evaluate`` materialises all members again."""
    from django.db import connection

    from audience_ops.audiences.models import Audience, AudienceSnapshot, MembershipSpan

    audience_id = Audience.objects.get(slug=slug).pk
    with connection.cursor() as cursor:
        for model in (MembershipSpan, AudienceSnapshot):
            cursor.execute(f"DELETE FROM {model._meta.db_table} WHERE audience_id = %s", [audience_id])
        # Without this the dead spans of earlier runs would slow the later ones down.
        cursor.execute(f"VACUUM (ANALYZE) {MembershipSpan._meta.db_table}, {AudienceSnapshot._meta.db_table}")


# --- the benchmark -----------------------------------------------------------------------------------------


def ensure_owner() -> None:
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(username=OWNER).exists():
        finished = run_command(["users", "add", OWNER, "--role", "marketer"])
        if finished.code != 0:
            raise SystemExit(f"manage.py users add {OWNER} failed:\n{finished.stderr}")


def import_audiences(path: Path) -> str:
    with tempfile.TemporaryFile() as output:
        finished = run_command(["audiences", "import", str(path)], stdout=output)
        output.seek(0)
        text = output.read().decode()
    if finished.code != 0:
        raise SystemExit(f"manage.py audiences import {path} failed:\n{finished.stderr}{text}")
    return text


def visibility_warning() -> str:
    """A warning when most event pages are not all-visible: index-only scans then read the heap anyway."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT relpages, relallvisible FROM pg_class WHERE relname = 'customers_event'")
        pages, visible = cursor.fetchone()
    if pages and visible < 0.9 * pages:
        return (
            f"warning: only {visible} of {pages} customers_event pages are all-visible (not vacuumed since the "
            "load); index-only scans will visit the table. Run with --vacuum for steady-state figures."
        )
    return ""


def server_settings() -> dict[str, str]:
    from django.db import connection

    names = ["server_version", "shared_buffers", "work_mem", "random_page_cost", "jit", "max_parallel_workers"]
    names += ["max_parallel_workers_per_gather", "statement_timeout", "autovacuum"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", [names])
        found = dict(cursor.fetchall())
    return {name: found.get(name, "?") for name in names}


def bench_audience(
    slug: str, *, now: dt.datetime, as_of: str, repeat: int, timeout: float, explain_lines: list[str]
) -> AudienceResult:
    from audience_ops.audiences import selectors, services

    result = AudienceResult(slug=slug)
    deadline = Deadline(timeout)
    audience = selectors.audience_get(slug=slug)
    engine_sql, engine_params = services.audience_members_sql(audience=audience, now=now)
    hand = HAND_IDS.get(slug)
    hand_sql, hand_params = hand(now) if hand else ("", [])

    def log(text: str) -> None:
        print(f"[{slug}] {text}", file=sys.stderr, flush=True)

    log("engine ids")
    result.engine_ids, engine_ids = time_sql(
        lambda: fetch_ids(engine_sql, engine_params), deadline=deadline, repeat=repeat
    )
    if engine_ids is not None:
        result.members = len(engine_ids)
    if hand:
        log("hand-written ids")
        result.hand_ids, hand_ids = time_sql(lambda: fetch_ids(hand_sql, hand_params), deadline=deadline, repeat=repeat)
        if hand_ids is not None:
            result.hand_members = len(hand_ids)
            if engine_ids is not None:
                result.ids_match = sorted(engine_ids) == sorted(hand_ids)

    log("engine CSV rows")
    # When the id statement did not finish, one run shows whether the row statement does.
    result.engine_rows, engine_rows = time_sql(
        lambda: digest_rows(services.audience_member_rows(audience=audience, now=now)),
        deadline=deadline,
        repeat=1 if result.engine_ids.timed_out else repeat,
        warmup=not result.engine_ids.timed_out,
    )
    if hand:
        log("hand-written CSV rows")
        result.hand_rows, hand_rows = time_sql(
            lambda: digest_rows(stream_sql(hand_rows_sql(slug, hand_sql), hand_params)),
            deadline=deadline,
            repeat=repeat,
        )
        if engine_rows is not None and hand_rows is not None:
            result.rows_match = engine_rows == hand_rows

    log("EXPLAIN")
    members = f"{result.members:,}" if result.members is not None else "?"
    explain_lines.append(f"== {slug}: {members} members at {as_of}")
    analyzed = ""
    if not result.engine_ids.timed_out:
        with contextlib.suppress(TimedOut):
            analyzed = deadline.run(lambda: explain(engine_sql, engine_params, analyze=True))
    if analyzed:
        explain_lines.append(analyzed)
    else:
        explain_lines.append(f"(EXPLAIN ANALYZE does not finish within {timeout:g} s; the plan without ANALYZE)")
        explain_lines.append(explain(engine_sql, engine_params, analyze=False))
    explain_lines.append("")

    log("audiences members (CLI)")
    members_args = ["audiences", "members", slug, "--as-of", as_of]
    result.members_cli = time_command(members_args, repeat=repeat, timeout=timeout)

    log("audiences evaluate (CLI), first and second run")
    evaluate_args = ["audiences", "evaluate", slug, "--as-of", as_of]
    for _ in range(repeat):
        reset_materialisation(slug)
        first = time_command(evaluate_args, repeat=1, timeout=timeout)
        if first.timed_out:
            result.evaluate_first.timed_out = True
            result.evaluate_second.skipped = "the first evaluate did not finish"
            break
        result.evaluate_first.seconds += first.seconds
        result.evaluate_first.peak_rss_mb += first.peak_rss_mb
        second = time_command(evaluate_args, repeat=1, timeout=timeout)
        if second.timed_out:
            result.evaluate_second.timed_out = True
            break
        result.evaluate_second.seconds += second.seconds
        result.evaluate_second.peak_rss_mb += second.peak_rss_mb
    result.evaluate_output = _last_snapshot_line(slug)
    return result


def _last_snapshot_line(slug: str) -> str:
    from audience_ops.audiences.models import AudienceSnapshot

    snapshot = AudienceSnapshot.objects.filter(audience__slug=slug).order_by("-id").first()
    if snapshot is None:
        return ""
    return f"size {snapshot.size}, entered {snapshot.entered}, exited {snapshot.exited}"


# --- report ------------------------------------------------------------------------------------------------


def _seconds(runs: Runs, timeout: float) -> str:
    if runs.skipped:
        return "n/a"
    if runs.timed_out:
        return f">{timeout:g}"
    value = runs.median()
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _ratio(engine: Runs, hand: Runs, timeout: float) -> str:
    hand_seconds = hand.median()
    if hand_seconds is None:
        return "-"
    if engine.timed_out:
        return f">{timeout / hand_seconds:.0f}"
    engine_seconds = engine.median()
    return "-" if engine_seconds is None else f"{engine_seconds / hand_seconds:.2f}"


def _rss(values: list[float]) -> str:
    return f"{max(values):.0f}" if values else "-"


def markdown_table(results: list[AudienceResult], timeout: float) -> str:
    header = (
        "| audience | members | members CLI s | engine ids s | hand ids s | ratio ids | engine rows s | hand rows s "
        "| ratio rows | evaluate #1 s | evaluate #2 s | peak RSS MB members / evaluate |"
    )
    lines = [header, "|---|" + "---:|" * 11]
    for result in results:
        if result.members is not None:
            members = f"{result.members:,}"
        elif result.hand_members is not None:
            members = f"{result.hand_members:,} (hand)"
        else:
            members = "?"
        if result.ids_match is False or result.rows_match is False:
            members += " MISMATCH"
        evaluate_rss = [*result.evaluate_first.peak_rss_mb, *result.evaluate_second.peak_rss_mb]
        cells = [
            f"`{result.slug}`",
            members,
            _seconds(result.members_cli, timeout),
            _seconds(result.engine_ids, timeout),
            _seconds(result.hand_ids, timeout),
            _ratio(result.engine_ids, result.hand_ids, timeout),
            _seconds(result.engine_rows, timeout),
            _seconds(result.hand_rows, timeout),
            _ratio(result.engine_rows, result.hand_rows, timeout),
            _seconds(result.evaluate_first, timeout),
            _seconds(result.evaluate_second, timeout),
            f"{_rss(result.members_cli.peak_rss_mb)} / {_rss(evaluate_rss)}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=ROOT / "bench" / "audiences_bench.json")
    parser.add_argument("--slugs", nargs="*", help="audiences to measure (default: every audience in --file)")
    parser.add_argument("--as-of", default=DEFAULT_AS_OF, help=f"evaluation time (default {DEFAULT_AS_OF})")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median reported)")
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a statement is cancelled")
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PostgreSQL setting for every connection of the benchmark and its commands (repeatable)",
    )
    parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) the customer tables first")
    parser.add_argument("--explain-out", type=Path, default=ROOT / "bench" / "results" / "engine_explain.txt")
    parser.add_argument("--json", type=Path, default=None, help="also write every run as JSON to this file")
    args = parser.parse_args(argv)

    if not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://")):
        raise SystemExit("DATABASE_URL must point at the PostgreSQL database holding the 1M-profile demo")
    # libpq reads PGOPTIONS, so the settings (and a statement_timeout as a backstop) reach this process and
    # every manage.py child.
    options = [os.environ.get("PGOPTIONS", ""), f"-c statement_timeout={int(args.timeout * 1000)}"]
    options += [f"-c {setting}" for setting in args.pg_setting]
    os.environ["PGOPTIONS"] = " ".join(option for option in options if option)

    import django

    django.setup()
    from django.db import connection

    from audience_ops.audiences.services import parse_as_of

    now = parse_as_of(args.as_of)
    ensure_owner()
    print(import_audiences(args.file), end="", file=sys.stderr)
    if args.vacuum:
        with connection.cursor() as cursor:
            cursor.execute("VACUUM (ANALYZE) customers_profile, customers_event, customers_anonymousid")
    warning = visibility_warning()
    if warning:
        print(warning, file=sys.stderr)
    slugs = args.slugs or [item["slug"] for item in json.loads(args.file.read_text())["audiences"]]
    settings = server_settings()

    run_command(["audiences", "export", slugs[0]])  # warm-up: imports, bytecode, connection
    startup = time_command(["audiences", "export", slugs[0]], repeat=args.repeat, timeout=args.timeout)
    explain_lines = [f"# EXPLAIN (ANALYZE, BUFFERS) of the engine's member-id statement, as of {args.as_of}", ""]
    results: list[AudienceResult] = []
    load_before = os.getloadavg()
    for slug in slugs:
        results.append(
            bench_audience(
                slug,
                now=now,
                as_of=args.as_of,
                repeat=args.repeat,
                timeout=args.timeout,
                explain_lines=explain_lines,
            )
        )
        # Written after every audience, so a long run can be followed (and is not lost if interrupted).
        args.explain_out.parent.mkdir(parents=True, exist_ok=True)
        args.explain_out.write_text("\n".join(explain_lines))
        print(markdown_table(results[-1:], args.timeout).splitlines()[-1], file=sys.stderr, flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            payload = {
                "as_of": args.as_of,
                "repeat": args.repeat,
                "timeout": args.timeout,
                "pg_settings": args.pg_setting,
                "server": settings,
                "startup": asdict(startup),
                "audiences": [asdict(result) for result in results],
            }
            args.json.write_text(json.dumps(payload, indent=2) + "\n")
    load_after = os.getloadavg()

    print(markdown_table(results, args.timeout))
    print()
    print(
        f"Process baseline (`audiences export`: Django start-up and one query): {startup.median():.2f} s, "
        f"{_rss(startup.peak_rss_mb)} MB peak RSS."
    )
    print(f"Load average before/after: {load_before[0]:.1f} / {load_after[0]:.1f} on {os.cpu_count()} CPUs.")
    print("Server: " + ", ".join(f"{name}={value}" for name, value in settings.items()) + ".")
    if args.pg_setting:
        print("Session settings: " + ", ".join(args.pg_setting) + ".")
    for result in results:
        if result.evaluate_output:
            print(f"`{result.slug}`: last evaluate {result.evaluate_output}.")


if __name__ == "__main__":
    main()

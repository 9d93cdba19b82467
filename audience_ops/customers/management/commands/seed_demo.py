"""``manage.py seed_demo [--profiles N] [--seed S] [--now TS] [--reset]``: load the Glow & Grind demo data.

A thin wrapper over :func:`audience_ops.customers.bulk_load.demo_data_seed`; ``docs/demo-data.md`` says what
the data contains.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from audience_ops.customers.bulk_load import DemoDataExists, demo_data_seed
from audience_ops.customers.demo_data import default_now


def parse_now(value: str) -> datetime:
    """An ISO 8601 time; without an offset it is read as UTC (like message timestamps)."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise CommandError(f"--now: {value!r} is not an ISO 8601 time such as 2026-11-28T16:00:00Z") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


class Command(BaseCommand):
    help = "Load deterministic demo customers and events (COPY on PostgreSQL, chunked inserts elsewhere)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profiles", type=int, default=3000, help="generated shoppers, besides 6 QA profiles")
        parser.add_argument("--seed", type=int, default=7, help="same seed and --now give the same data")
        parser.add_argument(
            "--now",
            type=parse_now,
            default=None,
            help="the data's 'now' (ISO 8601, UTC when no offset); default: the current time rounded down to the hour",
        )
        parser.add_argument("--reset", action="store_true", help="delete all customer data first")
        parser.add_argument(
            "--rebuild-indexes",
            choices=["auto", "yes", "no"],
            default="auto",
            help="drop and rebuild event/profile indexes around the load (PostgreSQL; auto: for millions of events)",
        )

    def handle(self, *args, **options) -> None:
        if options["profiles"] < 0:
            raise CommandError(f"--profiles: must be 0 or more, got {options['profiles']}")
        now = options["now"] or default_now(timezone.now())
        verbosity = options["verbosity"]

        def progress(message: str) -> None:
            if verbosity >= 2:
                self.stderr.write(f"  {message}")

        rebuild = {"auto": None, "yes": True, "no": False}[options["rebuild_indexes"]]
        try:
            summary = demo_data_seed(
                profiles=options["profiles"],
                seed=options["seed"],
                now=now,
                reset=options["reset"],
                rebuild_indexes=rebuild,
                progress=progress,
            )
        except DemoDataExists as exc:
            raise CommandError(str(exc)) from exc
        if verbosity >= 1:
            self.stdout.write(
                f"Seeded demo data (seed {summary.seed}, now {summary.now:%Y-%m-%dT%H:%M:%SZ}): "
                f"{summary.profiles:,} profiles ({summary.known:,} known, {summary.anonymous:,} anonymous), "
                f"{summary.anonymous_ids:,} anonymous ids, {summary.events:,} events "
                f"in {summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s)"
            )

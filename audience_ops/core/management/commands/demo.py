"""``manage.py demo``: the one-command embedded demo.

Migrates, loads the Glow & Grind demo data once, creates one user per role, plays the demo story (audiences,
QA and approvals; the governance chapter's audiences; the sandbox destinations; on a fresh database four weeks
of simulated history with the cart-abandoner pair's syncs, a promo spike and a failing suppression sync;
then every alert check), starts background jobs off the request thread (an embedded Redis-protocol server
with real ``rqworker``/``rqcron`` processes when ``REDIS_URL`` is unset) and the destination sandbox, and
serves the app.
"""

from __future__ import annotations

import os
import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import audience_evaluate
from audience_ops.core.demo_audiences import load_demo_audiences
from audience_ops.core.demo_history import history_wanted, run_demo_history
from audience_ops.core.demo_hygiene import load_demo_hygiene
from audience_ops.core.demo_journeys import ensure_demo_journey_syncs
from audience_ops.core.demo_sandbox import forget_sandbox_state
from audience_ops.core.demo_syncs import ensure_demo_syncs
from audience_ops.core.demo_users import DEMO_USERS, ensure_demo_users
from audience_ops.core.embedded import BackgroundProcesses, start_embedded_redis
from audience_ops.customers.models import Profile
from audience_ops.destinations import demo as demo_destinations
from audience_ops.destinations.models import Destination
from audience_ops.destinations.sandbox.process import start_sandbox_process
from audience_ops.monitoring.services import alerts_evaluate


class Command(BaseCommand):
    help = "Start Audience Ops with demo data on the embedded default (SQLite, no Redis needed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1", help="address to serve on")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--profiles", type=int, default=3000, help="demo profiles to create on first start")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--reset", action="store_true", help="delete the customer data and load it again")
        parser.add_argument("--no-serve", action="store_true", help="prepare data and users, then exit")

    def handle(self, *args, **options) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        if options["reset"] or not Profile.objects.exists():
            self.stdout.write(f"Loading demo data ({options['profiles']} profiles)…")
            call_command("seed_demo", profiles=options["profiles"], seed=options["seed"], reset=options["reset"])
        ensure_demo_users()
        background = BackgroundProcesses()
        sandbox = None
        if not options["no_serve"]:
            # A plain SIGTERM (service managers, `timeout`) must still stop the worker and scheduler children.
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            # The sandbox starts first: the history's syncs send to it, and it must keep what they sent.
            sandbox = start_sandbox_process(settings.SANDBOX_BASE_URL)
            if sandbox is not None:
                background.processes.append(sandbox)
        try:
            self.play_story(sandbox_started=sandbox is not None)
        except BaseException:
            background.stop()
            raise
        if options["no_serve"]:
            return

        if not settings.REDIS_URL:
            start_embedded_redis(settings.EMBEDDED_REDIS_PORT)
        background.start(queues=list(settings.RQ_QUEUES))
        url = f"http://{options['addr']}:{options['port']}/"
        self.stdout.write(self.style.SUCCESS(f"\nAudience Ops is running at {url}"))
        self.stdout.write("Demo logins (demo only, never in production):")
        for username, role, password in DEMO_USERS:
            self.stdout.write(f"  {role:<9} {username:<6} password: {password}")
        where = "" if settings.REDIS_URL else " on the embedded server"
        self.stdout.write(f"Background jobs: rqworker + rqcron{where}")
        self.stdout.write(
            f"Destination sandbox: {settings.SANDBOX_BASE_URL} (Meta /meta, TikTok /tiktok, Google /google)"
        )
        try:
            os.environ.setdefault("DJANGO_RUNSERVER_HIDE_WARNING", "true")
            call_command("runserver", f"{options['addr']}:{options['port']}", use_reloader=False)
        finally:
            background.stop()

    def play_story(self, *, sandbox_started: bool = False) -> None:
        """Chapters 3 to 6 in order; idempotent, so a restart on the same database adds nothing twice.

        On a fresh database the audiences are not evaluated at start-up: the history evaluates them from four
        weeks ago up to now (an evaluation never goes back in time). On a restart they are evaluated now.
        """
        fresh = history_wanted()
        load_demo_audiences(stdout=self.stdout, evaluate=False)
        load_demo_hygiene(stdout=self.stdout, evaluate=False)
        destinations = demo_sync_destinations(stdout=self.stdout)
        now = timezone.now()
        if fresh:
            run_demo_history(
                stdout=self.stdout, now=now, destinations=destinations[:2], later_destinations=destinations[2:]
            )
        else:
            if sandbox_started:
                forget_sandbox_state(stdout=self.stdout)
            for audience in Audience.objects.exclude(status=AudienceStatus.RETIRED).order_by("slug"):
                snapshot = audience_evaluate(audience=audience, now=now)
                self.stdout.write(f"  {audience.slug}: {snapshot.size} members")
            ensure_demo_syncs(stdout=self.stdout, destinations=destinations)
            ensure_demo_journey_syncs(stdout=self.stdout)
            summary = alerts_evaluate(now=now)
            for kind, count in sorted(summary.active.items()):
                self.stdout.write(f"  Open alerts: {kind} x{count}\n")


def demo_sync_destinations(*, stdout) -> list[Destination]:
    """The sandbox destinations the cart-abandoner pair is synced to: Meta, TikTok and Google (with consent)."""
    return [
        demo_destinations.ensure_demo_destination(stdout=stdout),
        demo_destinations.ensure_demo_tiktok_destination(stdout=stdout),
        demo_destinations.ensure_demo_google_destination(stdout=stdout),
    ]

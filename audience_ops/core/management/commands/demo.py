"""``manage.py demo``: the one-command embedded demo.

Migrates, loads the Glow & Grind demo data once, creates one user per role, starts background jobs off the
request thread (an embedded Redis-protocol server with real ``rqworker``/``rqcron`` processes when
``REDIS_URL`` is unset) and serves the app.
"""

from __future__ import annotations

import os
import signal
import sys

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from audience_ops.core.demo_audiences import load_demo_audiences
from audience_ops.core.demo_users import DEMO_USERS, ensure_demo_users
from audience_ops.core.embedded import BackgroundProcesses, start_embedded_redis
from audience_ops.customers.models import Profile


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
        load_demo_audiences(stdout=self.stdout)
        if options["no_serve"]:
            return

        # A plain SIGTERM (service managers, `timeout`) must still stop the worker and scheduler children.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        background = BackgroundProcesses()
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
        try:
            os.environ.setdefault("DJANGO_RUNSERVER_HIDE_WARNING", "true")
            call_command("runserver", f"{options['addr']}:{options['port']}", use_reloader=False)
        finally:
            background.stop()

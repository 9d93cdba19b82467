"""``manage.py profiles show KEY``: a profile as JSON, found by external id, email, phone or anonymous id.

One match prints one JSON object. Several matches (two profiles sharing an email or a phone) print a JSON
list of them, oldest profile first, and say so on stderr: hiding all but one would mislead whoever is
debugging exactly that kind of identity question. No match exits with status 1.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.customers.profile_export import profile_export
from audience_ops.customers.selectors import profile_search


class Command(BaseCommand):
    help = "Show customer profiles."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        show = sub.add_parser("show", help="print a profile and its events as JSON (a list when several match)")
        show.add_argument("key", help="external id (userId), email (case-insensitive), phone or anonymous id")

    def handle(self, *args, **options) -> None:
        key = options["key"]
        profiles = list(profile_search(query=key))
        if not profiles:
            raise CommandError(f"no profile matches {key!r} (external id, email, phone or anonymous id)")
        exported = [profile_export(profile=profile) for profile in profiles]
        if len(exported) > 1:
            self.stderr.write(f"{len(exported)} profiles match {key!r}; printing them all as a JSON list")
        self.stdout.write(json.dumps(exported[0] if len(exported) == 1 else exported, indent=2, ensure_ascii=False))

"""``manage.py audiences import|export|members|evaluate|list|explain``: audiences as files, from the shell.

A thin wrapper: every subcommand calls a service and formats its result. See ``docs/audience-definitions.md``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from audience_ops.audiences import selectors, services
from audience_ops.audiences.choices import AudienceStatus
from audience_ops.audiences.definitions import payload_dumps
from audience_ops.audiences.engine.compiler import CompileError
from audience_ops.audiences.models import Audience, AudienceVersion
from audience_ops.customers.models import Profile

CSV_BATCH = 1000


class Command(BaseCommand):
    help = "Import, export, evaluate and inspect audiences (definition format v1)."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        imp = sub.add_parser("import", help="create audiences or add versions from a v1 file (all or nothing)")
        imp.add_argument("file", help="path to the JSON file, or - for standard input")
        imp.add_argument("--by", default=None, help="username authoring new versions (default: each owner)")

        exp = sub.add_parser("export", help="write audiences as v1 JSON (all when no slug is given)")
        exp.add_argument("slugs", nargs="*")

        members = sub.add_parser("members", help="CSV of an audience's members at a time")
        members.add_argument("slug")
        members.add_argument("--as-of", default=None, help="ISO 8601 time (default: now)")
        members.add_argument("--version", type=int, default=None, help="version number (default: live, else latest)")

        evaluate = sub.add_parser("evaluate", help="record membership changes and a size snapshot")
        evaluate.add_argument("slugs", nargs="*")
        evaluate.add_argument("--as-of", default=None, help="ISO 8601 time (default: now)")

        sub.add_parser("list", help="slug, status, versions and last size of every audience")

        explain = sub.add_parser("explain", help="why a profile is in or out of an audience")
        explain.add_argument("slug")
        explain.add_argument("profile", help="external id, anonymous id or email of the profile")
        explain.add_argument("--as-of", default=None, help="ISO 8601 time (default: now)")
        explain.add_argument("--version", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        handler = getattr(self, f"handle_{options['action']}")
        handler(options)

    # --- import / export ----------------------------------------------------------------------------------

    def handle_import(self, options: dict[str, Any]) -> None:
        name = options["file"]
        try:
            if name == "-":
                stream = options.get("stdin") or sys.stdin
                text = stream.read()
            else:
                with open(name, encoding="utf-8") as handle:
                    text = handle.read()
        except OSError as exc:
            raise CommandError(f"{name}: cannot read the file ({exc.strerror})") from exc
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from exc

        result = services.audience_import(payload=payload, actor_or_username=options["by"])
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(str(problem).replace("by: ", "--by: ", 1) if problem.path == "by" else str(problem))
            count = len(result.problems)
            raise CommandError(f"{count} problem{'s' if count != 1 else ''} found; nothing was imported")
        for change in result.changes:
            self.stdout.write(str(change))

    def handle_export(self, options: dict[str, Any]) -> None:
        try:
            data = services.audience_export(options["slugs"])
        except Audience.DoesNotExist as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(payload_dumps(data), ending="")

    # --- evaluation ---------------------------------------------------------------------------------------

    def handle_members(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        now = self._as_of(options["as_of"])
        version = self._version(audience, options["version"])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(services.MEMBER_CSV_HEADER)
        rows = 0
        try:
            for row in services.audience_member_rows(audience=audience, now=now, version=version):
                writer.writerow(row)
                rows += 1
                if rows % CSV_BATCH == 0:
                    self.stdout.write(buffer.getvalue(), ending="")
                    buffer.seek(0)
                    buffer.truncate()
        except (CompileError, AudienceVersion.DoesNotExist) as exc:
            raise CommandError(f"{audience.slug}: {exc}") from exc
        self.stdout.write(buffer.getvalue(), ending="")

    def handle_evaluate(self, options: dict[str, Any]) -> None:
        now = self._as_of(options["as_of"])
        if options["slugs"]:
            audiences = [self._audience(slug) for slug in dict.fromkeys(options["slugs"])]
        else:
            audiences = list(Audience.objects.filter(status=AudienceStatus.LIVE).order_by("slug"))
            if not audiences:
                audiences = list(Audience.objects.exclude(status=AudienceStatus.RETIRED).order_by("slug"))
        for audience in audiences:
            try:
                snapshot = services.audience_evaluate(audience=audience, now=now)
            except (ValidationError, CompileError, AudienceVersion.DoesNotExist) as exc:
                message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
                raise CommandError(f"{audience.slug}: {message}") from exc
            self.stdout.write(
                f"{audience.slug}: size {snapshot.size}, entered {snapshot.entered}, exited {snapshot.exited}"
            )

    def handle_list(self, options: dict[str, Any]) -> None:
        rows = [("slug", "status", "versions", "last_size")]
        for audience in selectors.audience_list():
            last = "-" if audience.last_size is None else str(audience.last_size)
            rows.append((audience.slug, audience.status, str(audience.version_count), last))
        widths = [max(len(row[index]) for row in rows) for index in range(3)]
        for row in rows:
            self.stdout.write(
                "  ".join(value.ljust(widths[index]) for index, value in enumerate(row[:3])) + "  " + row[3]
            )

    def handle_explain(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        now = self._as_of(options["as_of"])
        version = self._version(audience, options["version"])
        key = options["profile"]
        profile = (
            Profile.objects.filter(Q(external_id=key) | Q(anonymous_ids__anonymous_id=key)).first()
            or Profile.objects.filter(email=key).order_by("pk").first()
        )
        if profile is None:
            raise CommandError(f'no profile with external id, anonymous id or email "{key}"')
        trace = services.profile_explain(audience=audience, profile=profile, now=now, version=version)
        self.stdout.write(trace.as_text(), ending="")

    # --- arguments ----------------------------------------------------------------------------------------

    def _audience(self, slug: str) -> Audience:
        try:
            return selectors.audience_get(slug=slug)
        except Audience.DoesNotExist as exc:
            raise CommandError(f'unknown audience "{slug}"') from exc

    def _version(self, audience: Audience, number: int | None) -> AudienceVersion | None:
        if number is None:
            return None
        try:
            return selectors.audience_version_get(audience=audience, number=number)
        except AudienceVersion.DoesNotExist as exc:
            raise CommandError(f'audience "{audience.slug}" has no version {number}') from exc

    def _as_of(self, value: str | None):
        if value is None:
            return timezone.now()
        try:
            return services.parse_as_of(value)
        except ValueError as exc:
            raise CommandError(f"--as-of: {exc}") from exc

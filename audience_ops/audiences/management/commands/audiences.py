"""``manage.py audiences import|export|members|evaluate|list|explain|qa|submit|approve|reject|pause|resume|retire``.

Audiences as files and the governance workflow, from the shell. A thin wrapper: every subcommand calls a
service (the same services and checks as the pages) and formats its result; a refusal is a ``CommandError``
carrying the service's sentence, with nothing written. See ``docs/audience-definitions.md`` and
``docs/governance.md``.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q
from django.utils import timezone

from audience_ops.audiences import lifecycle, qa, selectors, services
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

        qa_parser = sub.add_parser("qa", help="run the QA cases of a version and store the run (exit 1 on failure)")
        qa_parser.add_argument("slug")
        qa_parser.add_argument("--as-of", default=None, help="ISO 8601 time (default: now)")
        qa_parser.add_argument("--by", default=None, help="username recorded as running QA")
        qa_parser.add_argument("--version", type=int, default=None, help="version number (default: latest)")

        submit = sub.add_parser("submit", help="submit the latest version for review")
        submit.add_argument("slug")
        submit.add_argument("--by", required=True, help="username of the person submitting")

        approve = sub.add_parser("approve", help="approve the pending review (never your own)")
        approve.add_argument("slug")
        approve.add_argument("--by", required=True, help="username of the approver (ops)")
        approve.add_argument("--launch-at", default=None, help="ISO 8601 time to go live (default: now)")

        reject = sub.add_parser("reject", help="reject the pending review with a reason")
        reject.add_argument("slug")
        reject.add_argument("--by", required=True, help="username of the reviewer (ops)")
        reject.add_argument("--reason", required=True, help="what the author should fix")

        for action, text in (
            ("pause", "stop a live audience (ops, admin)"),
            ("resume", "put a paused audience back live (ops, admin)"),
            ("retire", "retire an audience for good (admin)"),
        ):
            parser_ = sub.add_parser(action, help=text)
            parser_.add_argument("slug")
            parser_.add_argument("--by", required=True, help="username of the person acting")
            if action != "resume":
                parser_.add_argument("--reason", default="", help="why (kept in the audit log)")
            if action == "retire":
                parser_.add_argument(
                    "--destinations",
                    choices=("remove", "delete", "keep"),
                    default="remove",
                    help="at every destination: remove its members (default), delete the remote audience "
                    "(where the platform allows; otherwise its members are removed), or keep it as it is",
                )

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

    # --- QA and lifecycle ---------------------------------------------------------------------------------

    def handle_qa(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        now = self._as_of(options["as_of"])
        actor = self._user(options["by"]) if options["by"] else None
        version = self._version(audience, options["version"])
        run = self._service(lambda: qa.qa_run(actor=actor, audience=audience, version=version, now=now))
        number = run.version.number
        for result in run.results:
            verdict = "PASS" if result["passed"] else "FAIL"
            label = result["profile"] + (f" ({result['fixture']})" if result.get("fixture") else "")
            note = f"  {result['note']}" if result.get("note") else ""
            self.stdout.write(f"{verdict}  {label}: expect {result['expect']}, actual {result['actual']}{note}")
            for line in result.get("explanation") or []:
                self.stdout.write(f"      {line}")
        failed = qa.qa_run_failures(run)
        total = len(run.results)
        summary = f"{audience.slug} version {number} at {now.isoformat()}"
        if run.passed:
            self.stdout.write(f"QA passed: {total} of {total} cases, {summary}")
            return
        reason = "no QA cases" if total == 0 else f"{failed} of {total} cases failed"
        raise CommandError(f"QA failed: {reason}, {summary}", returncode=1)

    def handle_submit(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        actor = self._user(options["by"])
        review = self._service(lambda: lifecycle.audience_submit(actor=actor, audience=audience))
        audience.refresh_from_db()
        self.stdout.write(
            f"{audience.slug}: version {review.version.number} submitted for review (status {audience.status})"
        )

    def handle_approve(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        actor = self._user(options["by"])
        launch_at = self._time("--launch-at", options["launch_at"]) if options["launch_at"] else None
        review = self._service(lambda: lifecycle.audience_approve(actor=actor, audience=audience, launch_at=launch_at))
        audience.refresh_from_db()
        number = review.version.number
        if review.launched_at is None:
            self.stdout.write(
                f"{audience.slug}: version {number} approved, goes live at {review.launch_at.isoformat()} "
                f"(status {audience.status})"
            )
        else:
            self.stdout.write(f"{audience.slug}: version {number} approved (status {audience.status})")

    def handle_reject(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        actor = self._user(options["by"])
        review = self._service(
            lambda: lifecycle.audience_reject(actor=actor, audience=audience, reason=options["reason"])
        )
        audience.refresh_from_db()
        self.stdout.write(f"{audience.slug}: version {review.version.number} rejected (status {audience.status})")

    def handle_pause(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        actor = self._user(options["by"])
        audience = self._service(
            lambda: lifecycle.audience_pause(actor=actor, audience=audience, reason=options["reason"])
        )
        self.stdout.write(f"{audience.slug}: paused")

    def handle_resume(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        actor = self._user(options["by"])
        audience = self._service(lambda: lifecycle.audience_resume(actor=actor, audience=audience))
        self.stdout.write(f"{audience.slug}: live again")

    def handle_retire(self, options: dict[str, Any]) -> None:
        audience = self._audience(options["slug"])
        actor = self._user(options["by"])
        from audience_ops.syncs.retirement import CLI_ACTIONS, actions_for_all

        actions = actions_for_all(audience, CLI_ACTIONS[options.get("destinations") or "remove"])
        audience = self._service(
            lambda: lifecycle.audience_retire(
                actor=actor, audience=audience, reason=options["reason"], sync_actions=actions
            )
        )
        self.stdout.write(f"{audience.slug}: retired")

    def _service(self, call):
        """Run a service call; its refusal (rules, permissions, validation) becomes the command's error."""
        try:
            return call()
        except PermissionDenied as exc:
            raise CommandError(f"not allowed: {exc}") from exc
        except ValidationError as exc:
            raise CommandError("\n".join(exc.messages)) from exc
        except CompileError as exc:
            raise CommandError(str(exc)) from exc

    # --- arguments ----------------------------------------------------------------------------------------

    def _user(self, username: str) -> AbstractBaseUser:
        user_model = get_user_model()
        user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f'--by: unknown user "{username}"')
        return user

    def _time(self, option: str, value: str):
        try:
            return services.parse_as_of(value)
        except ValueError as exc:
            raise CommandError(f"{option}: {exc}") from exc

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

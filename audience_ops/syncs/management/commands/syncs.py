"""``manage.py syncs add|list|run``: syncs from the shell, through the same services as the UI.

``syncs run --allow-large-change --by USER`` is the ops approval of a run the large-change guardrail would
hold (audited under that user); without it such a run prints its plan and exits non-zero, nothing sent.

``syncs run`` runs in the foreground through exactly the job's code path (the run is requested through the
service, then the job function is called in this process) and prints a one-line JSON summary; it exits
non-zero when the run failed.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.audiences.models import Audience
from audience_ops.audiences.services import parse_as_of
from audience_ops.audit.services import CLI_LABEL
from audience_ops.destinations.models import Destination
from audience_ops.syncs.choices import RunState, RunTrigger, SyncMode
from audience_ops.syncs.guardrails import held_plan_summary, run_allow_large_change
from audience_ops.syncs.jobs import run_sync_job
from audience_ops.syncs.models import LedgerEntry, Sync, SyncRun
from audience_ops.syncs.services import sync_create, sync_plan_preview, sync_request_run


class Command(BaseCommand):
    help = "Create, list and run syncs (audience x destination)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        add = sub.add_parser("add", help="sync an audience to a destination (enabled at once)")
        add.add_argument("audience", help="audience slug")
        add.add_argument("destination", help="destination name")
        add.add_argument("--mode", choices=SyncMode.values, default=SyncMode.MIRROR)
        cadence = add.add_mutually_exclusive_group()
        cadence.add_argument("--every", type=int, default=None, metavar="MINUTES", help="run every N minutes")
        cadence.add_argument("--cron", default="", metavar="EXPR", help="cron expression (UTC)")
        add.add_argument("--paused", action="store_true", help="create the sync disabled")
        add.add_argument("--by", default=None, metavar="USER", help="act as this user (default: the operator)")

        sub.add_parser("list", help="every sync with its mode, cadence, ledger size and last run")

        run = sub.add_parser("run", help="run a sync now, in the foreground")
        run.add_argument("audience", help="audience slug")
        run.add_argument("destination", help="destination name")
        run.add_argument("--as-of", default=None, help="membership time, ISO 8601 (default: now)")
        run.add_argument("--dry-run", action="store_true", help="print the plan; send nothing")
        run.add_argument("--by", default=None, metavar="USER", help="act as this user (default: the operator)")
        run.add_argument(
            "--allow-large-change",
            action="store_true",
            help="approve in advance a plan the large-change guardrail would hold (needs --by USER; audited)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_add(self, options: dict[str, Any]) -> None:
        actor = _user(options["by"])
        try:
            sync = sync_create(
                actor=actor,
                audience=_audience(options["audience"]),
                destination=_destination(options["destination"]),
                mode=options["mode"],
                every_minutes=options["every"],
                cron=options["cron"],
                enabled=not options["paused"],
                actor_label="" if actor else CLI_LABEL,
            )
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        state = "enabled" if sync.enabled else "paused"
        self.stdout.write(f"sync {sync.pk}: {sync} ({sync.mode}, {sync.cadence_label}, {state})")

    def handle_list(self, options: dict[str, Any]) -> None:
        for sync in Sync.objects.select_related("audience", "destination").order_by(
            "audience__slug", "destination__name"
        ):
            last = sync.runs.order_by("-requested_at", "-pk").first()
            row = {
                "id": sync.pk,
                "audience": sync.audience.slug,
                "destination": sync.destination.name,
                "mode": sync.mode,
                "cadence": sync.cadence_label,
                "enabled": sync.enabled,
                "ledger": LedgerEntry.objects.filter(sync=sync).count(),
                "next_run_at": sync.next_run_at.isoformat() if sync.next_run_at else None,
                "last_run": {"id": last.pk, "state": last.state, "match_rate": last.match_rate} if last else None,
            }
            self.stdout.write(json.dumps(row))

    def handle_run(self, options: dict[str, Any]) -> None:
        actor = _user(options["by"])
        audience = _audience(options["audience"])
        destination = _destination(options["destination"])
        sync = Sync.objects.filter(audience=audience, destination=destination).first()
        if sync is None:
            raise CommandError(f"{audience.slug} has no sync to {destination.name} (create it with: syncs add)")
        as_of = None
        if options["as_of"]:
            try:
                as_of = parse_as_of(options["as_of"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        allow_large_change = options.get("allow_large_change", False)
        if allow_large_change and actor is None:
            raise CommandError("--allow-large-change needs --by USER: the approval is recorded under that user")
        try:
            run = sync_request_run(
                actor=actor,
                sync=sync,
                trigger=RunTrigger.CLI,
                as_of=as_of,
                dry_run=options["dry_run"],
                enqueue=False,
                actor_label="" if actor else CLI_LABEL,
            )
            if allow_large_change:
                run_allow_large_change(actor=actor, run=run)
        except ValidationError as exc:
            raise CommandError(_messages(exc)) from exc
        summary = run_sync_job(run.pk)
        if summary["state"] == RunState.AWAITING_APPROVAL:
            held = SyncRun.objects.get(pk=run.pk)
            summary["error"] = held.hold_reason
            summary["plan"] = held_plan_summary(held)
            self.stdout.write(json.dumps(summary))
            raise CommandError(
                f"run {run.pk} is a large change and was not sent: {held.hold_reason} It waits for approval on "
                "its page; to send it from here, run again with --allow-large-change --by USER.",
                returncode=1,
            )
        if options["dry_run"] and summary["state"] == RunState.SUCCEEDED:
            preview = sync_plan_preview(sync=sync, as_of=run.__class__.objects.get(pk=run.pk).as_of, sample=5)
            summary["sample_adds"] = [p.external_id or p.pk for p in preview.sample_adds]
            summary["sample_removes"] = preview.sample_removes
            summary["unmatchable_estimate"] = preview.unmatchable_estimate
        self.stdout.write(json.dumps(summary))
        if summary["state"] != RunState.SUCCEEDED:
            raise CommandError(f"run {run.pk} {summary['state']}: {summary['error']}", returncode=1)


def _user(username: str | None):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise CommandError(f'no user "{username}"')
    return user


def _audience(slug: str) -> Audience:
    audience = Audience.objects.filter(slug=slug).first()
    if audience is None:
        raise CommandError(f'no audience "{slug}"')
    return audience


def _destination(name: str) -> Destination:
    destination = Destination.objects.filter(name=name).first()
    if destination is None:
        raise CommandError(f'no destination "{name}"')
    return destination


def _messages(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)

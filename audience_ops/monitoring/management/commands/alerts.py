"""``manage.py alerts evaluate|list|ack|resolve``: alerts from the shell, through the same services as the UI.

``alerts evaluate`` runs every check now (or ``--as-of``) and prints a summary; ``alerts list`` prints one
line per alert, or with ``--json`` one JSON object per line (kind, subject, severity, first_seen, last_seen,
state, message) for scripts and chat bots.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.audiences.services import parse_as_of
from audience_ops.audit.services import CLI_LABEL
from audience_ops.monitoring.choices import AlertKind
from audience_ops.monitoring.models import Alert
from audience_ops.monitoring.services import alert_acknowledge, alert_resolve, alerts_evaluate


def alert_row(alert: Alert) -> dict[str, Any]:
    """The JSON object ``alerts list --json`` prints for one alert."""
    return {
        "id": alert.pk,
        "kind": alert.kind,
        "subject": alert.subject_label,
        "severity": alert.severity,
        "state": alert.state,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "message": alert.message,
    }


class Command(BaseCommand):
    help = "Run the alert checks, list alerts, acknowledge or resolve them."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)

        evaluate = sub.add_parser("evaluate", help="run every alert check now and print a summary")
        evaluate.add_argument("--as-of", default=None, help="judge at this time, ISO 8601 (default: now)")

        listing = sub.add_parser("list", help="alerts, newest first (active and resolved)")
        listing.add_argument("--open", action="store_true", help="only alerts still open or acknowledged")
        listing.add_argument("--kind", choices=AlertKind.values, default=None)
        listing.add_argument("--json", action="store_true", help="one JSON object per line")

        for name, verb in (("ack", "acknowledge"), ("resolve", "resolve")):
            action = sub.add_parser(name, help=f"{verb} an alert")
            action.add_argument("alert_id", type=int)
            action.add_argument("--note", default="", help="what was done or why")
            action.add_argument("--by", default=None, metavar="USER", help="act as this user (default: the operator)")

    def handle(self, *args: Any, **options: Any) -> None:
        getattr(self, f"handle_{options['action']}")(options)

    def handle_evaluate(self, options: dict[str, Any]) -> None:
        try:
            now = parse_as_of(options["as_of"]) if options["as_of"] else None
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        summary = alerts_evaluate(now=now)
        active = ", ".join(f"{kind} {count}" for kind, count in sorted(summary.active.items())) or "none"
        self.stdout.write(
            f"checked at {summary.now:%Y-%m-%d %H:%M:%S} UTC: {summary.opened} opened, "
            f"{summary.resolved} resolved; active: {active}"
        )
        for error in summary.errors:
            self.stderr.write(f"check failed: {error}")
        if summary.errors:
            raise CommandError(f"{len(summary.errors)} check(s) failed")

    def handle_list(self, options: dict[str, Any]) -> None:
        alerts = Alert.objects.all()
        if options["open"]:
            alerts = alerts.active()
        if options["kind"]:
            alerts = alerts.filter(kind=options["kind"])
        for alert in alerts.order_by("-last_seen", "-pk"):
            if options["json"]:
                self.stdout.write(json.dumps(alert_row(alert)))
            else:
                self.stdout.write(
                    f"{alert.pk:>5}  {alert.state:<12}  {alert.severity:<8}  {alert.kind:<20}  "
                    f"{alert.subject_label}  (last seen {alert.last_seen:%Y-%m-%d %H:%M})"
                )

    def handle_ack(self, options: dict[str, Any]) -> None:
        self._act(options, alert_acknowledge, "acknowledged")

    def handle_resolve(self, options: dict[str, Any]) -> None:
        self._act(options, alert_resolve, "resolved")

    def _act(self, options: dict[str, Any], service: Any, done: str) -> None:
        alert = Alert.objects.filter(pk=options["alert_id"]).first()
        if alert is None:
            raise CommandError(f"no alert {options['alert_id']}")
        actor = None
        if options["by"]:
            actor = get_user_model().objects.filter(username=options["by"]).first()
            if actor is None:
                raise CommandError(f"no user {options['by']!r}")
        try:
            alert = service(actor=actor, alert=alert, note=options["note"], actor_label="" if actor else CLI_LABEL)
        except (ValidationError, PermissionDenied) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            raise CommandError(" ".join(messages)) from exc
        self.stdout.write(f"alert {alert.pk} {done}: {alert}")

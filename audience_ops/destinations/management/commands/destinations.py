"""``manage.py destinations add NAME --kind KIND --config JSON [--by USER] | list | test NAME``.

The same services as the admin pages: ``add`` validates the config per kind (errors name the key) and
stores its secrets encrypted; ``list`` shows credentials only masked; ``test`` asks the platform whether
the credentials work and exits non-zero when they do not.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.destinations.models import Destination
from audience_ops.destinations.registry import kinds
from audience_ops.destinations.services import destination_create, destination_test_connection


class Command(BaseCommand):
    help = "Manage destinations: add, list, test."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="add a destination")
        add.add_argument("name")
        add.add_argument("--kind", required=True, choices=[kind for kind, _label in kinds()])
        add.add_argument("--config", required=True, help="JSON object; secret keys are stored encrypted")
        add.add_argument("--by", default=None, help="username recorded as creating it (default: the command line)")
        sub.add_parser("list", help="list destinations (credentials masked)")
        test = sub.add_parser("test", help="test a destination's connection")
        test.add_argument("name")
        test.add_argument("--by", default=None, help="username recorded as running the test")

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _actor(self, username: str | None):
        if not username:
            return None
        try:
            return get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f'--by: unknown user "{username}"') from None

    def _add(self, options: dict) -> None:
        try:
            config = json.loads(options["config"])
        except ValueError as exc:
            raise CommandError(f"--config: not valid JSON ({exc})") from None
        try:
            destination = destination_create(
                actor=self._actor(options["by"]), name=options["name"], kind=options["kind"], config=config
            )
        except ValidationError as exc:
            raise CommandError(_problems(exc)) from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Created destination #{destination.pk} {destination.name!r} ({destination.kind}).")

    def _list(self, options: dict) -> None:
        self.stdout.write("id\tname\tkind\tenabled\tconfig\tcredentials\tlast test")
        for destination in Destination.objects.order_by("name"):
            if destination.last_test_at is None:
                last_test = "never"
            else:
                outcome = "ok" if destination.last_test_ok else "failed"
                last_test = f"{outcome} {destination.last_test_at:%Y-%m-%d %H:%M}"
            try:
                credentials = json.dumps(destination.masked_credentials(), ensure_ascii=False)
            except ValueError:
                credentials = "(cannot be decrypted with the configured keys)"
            self.stdout.write(
                f"{destination.pk}\t{destination.name}\t{destination.kind}\t{'yes' if destination.enabled else 'no'}\t"
                f"{json.dumps(destination.config, sort_keys=True)}\t{credentials}\t{last_test}"
            )

    def _test(self, options: dict) -> None:
        destination = Destination.objects.filter(name=options["name"]).first()
        if destination is None:
            raise CommandError(f'no destination named "{options["name"]}"')
        try:
            ok, message = destination_test_connection(actor=self._actor(options["by"]), destination=destination)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
        if not ok:
            raise CommandError(f"{destination.name}: {message}")
        self.stdout.write(f"{destination.name}: {message}")


def _problems(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(message for messages in exc.message_dict.values() for message in messages)
    return "; ".join(exc.messages)

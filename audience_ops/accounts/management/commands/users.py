"""``manage.py users add USERNAME --role ROLE [--email E] [--password P]`` and ``users list``."""

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.accounts.roles import Role, user_role
from audience_ops.accounts.services import user_create


class Command(BaseCommand):
    help = "Manage Audience Ops users and their roles."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a user with a role")
        add.add_argument("username")
        add.add_argument("--role", required=True, choices=Role.values)
        add.add_argument("--email", default="")
        add.add_argument("--password", default=None, help="omit for an unusable password")
        sub.add_parser("list", help="list users with their roles")

    def handle(self, *args, **options) -> None:
        if options["action"] == "add":
            try:
                user = user_create(
                    actor=None,
                    username=options["username"],
                    role=options["role"],
                    email=options["email"],
                    password=options["password"],
                )
            except ValidationError as exc:
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
            self.stdout.write(f"created {user.username} ({options['role']})")
        else:
            for user in get_user_model().objects.order_by("username").prefetch_related("groups"):
                state = "" if user.is_active else " inactive"
                self.stdout.write(f"{user.username}\t{user_role(user) or '-'}\t{user.email}{state}")

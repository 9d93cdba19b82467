"""``manage.py writekeys create NAME | list | revoke PREFIX_OR_ID``: tracking API write keys.

``create`` prints the raw key alone on the last line of stdout (so ``| tail -n1`` captures it); it is
shown this once and only its hash is stored. ``revoke`` takes the id, the prefix shown by ``list`` (or a
shorter unambiguous start of it), or the whole key.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.customers.models import WriteKey
from audience_ops.customers.writekeys import hash_key, writekey_create, writekey_revoke

PREFIX_LENGTH = 10  # WriteKey.prefix holds the key's first 10 characters


class Command(BaseCommand):
    help = "Manage write keys for the tracking API."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a key and print it (shown once)")
        create.add_argument("name", help="where the key is used, e.g. storefront")
        sub.add_parser("list", help="list keys (prefixes only, never the keys)")
        revoke = sub.add_parser("revoke", help="revoke a key by its id or prefix")
        revoke.add_argument("key", metavar="PREFIX_OR_ID")

    def handle(self, *args, **options) -> None:
        getattr(self, f"_{options['action']}")(options)

    def _create(self, options: dict) -> None:
        try:
            write_key, raw_key = writekey_create(actor=None, name=options["name"])
        except ValidationError as exc:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(f"Created write key #{write_key.pk} {write_key.name!r}. It is shown once; store it now:")
        self.stdout.write(raw_key)

    def _list(self, options: dict) -> None:
        self.stdout.write("id\tprefix\tname\tcreated\tlast used\tstatus")
        for key in WriteKey.objects.order_by("pk"):
            last_used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            status = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            self.stdout.write(
                f"{key.pk}\t{key.prefix}\t{key.name}\t{key.created_at:%Y-%m-%d %H:%M}\t{last_used}\t{status}"
            )

    def _revoke(self, options: dict) -> None:
        value = options["key"].strip()
        if not value:
            raise CommandError("give the id or the prefix of the write key to revoke")
        if value.isdigit():
            matches = list(WriteKey.objects.filter(pk=int(value)))
        elif len(value) > PREFIX_LENGTH:
            # Longer than a stored prefix: the whole key, found by its hash.
            matches = list(WriteKey.objects.filter(key_hash=hash_key(value)))
        else:
            matches = list(WriteKey.objects.filter(prefix__startswith=value).order_by("pk"))
        if not matches:
            raise CommandError(f"no write key has the id or prefix {value!r}")
        if len(matches) > 1:
            listed = ", ".join(f"#{key.pk} {key.prefix}" for key in matches)
            raise CommandError(f"{value!r} matches {len(matches)} write keys ({listed}); give the id")
        write_key = writekey_revoke(actor=None, write_key=matches[0])
        self.stdout.write(f"Revoked write key #{write_key.pk} {write_key.name!r} ({write_key.prefix}…)")

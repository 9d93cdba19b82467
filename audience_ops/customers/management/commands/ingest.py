"""``manage.py ingest PATH``: load Segment-Spec messages from JSON Lines (``-`` reads stdin), all or nothing.

Two passes over the file so memory stays bounded whatever its length: the first validates every line and
reports each bad one (``line 12: event: required for track messages``) without writing anything; the
second stores the messages in bulk chunks inside one transaction. Stdin is spooled to a temporary file
during the first pass so it can be read twice.

All or nothing has a price on PostgreSQL: the transaction holds the profiles it changed (and the userIds
it created) until it commits, so tracking API requests for the same customers wait for the load to finish.
Load large backfills when live traffic is low, or in several files.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audience_ops.customers.ingestion import DEFAULT_CHUNK_SIZE, IngestCounts, messages_ingest
from audience_ops.customers.messages import MessageError, TrackingMessage, jsonl_read


class Command(BaseCommand):
    help = "Load Segment-Spec messages (identify, track, page, screen, group, alias) from a JSON Lines file."
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="a .jsonl file, one message with a 'type' per line; '-' for stdin")
        parser.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, help="messages per bulk write")

    def handle(self, *args, **options) -> None:
        if options["chunk_size"] < 1:
            raise CommandError("--chunk-size must be at least 1")
        if options["path"] == "-":
            stdin = options.get("stdin") or sys.stdin.buffer
            with tempfile.TemporaryFile() as spool:
                self._validate(stdin, copy_to=spool)
                spool.seek(0)
                counts = self._store(spool, options["chunk_size"])
        else:
            try:
                file = open(options["path"], "rb")  # noqa: SIM115 (closed below, after both passes)
            except OSError as exc:
                raise CommandError(f"cannot read {options['path']}: {exc.strerror}") from exc
            with file:
                self._validate(file)
                file.seek(0)
                counts = self._store(file, options["chunk_size"])
        self.stdout.write(f"profiles created: {counts.profiles_created}")
        self.stdout.write(f"profiles merged: {counts.profiles_merged}")
        self.stdout.write(f"events stored: {counts.events_stored}")
        self.stdout.write(f"identify calls stored: {counts.identifies_stored}")
        self.stdout.write(f"duplicates skipped: {counts.duplicates_skipped}")

    def _validate(self, file: BinaryIO, *, copy_to: BinaryIO | None = None) -> None:
        invalid = 0
        for number, result in jsonl_read(file, copy_to=copy_to):
            if isinstance(result, MessageError):
                invalid += 1
                self.stderr.write(f"line {number}: {result}")
        if invalid:
            raise CommandError(f"{invalid} invalid line{'s' if invalid > 1 else ''}; nothing was written")

    def _store(self, file: BinaryIO, chunk_size: int) -> IngestCounts:
        def messages() -> Iterator[TrackingMessage]:
            for number, result in jsonl_read(file):
                if isinstance(result, MessageError):  # the file changed between the passes
                    raise CommandError(f"line {number}: {result} (the file changed while loading; nothing was written)")
                yield result

        return messages_ingest(messages=messages(), chunk_size=chunk_size)

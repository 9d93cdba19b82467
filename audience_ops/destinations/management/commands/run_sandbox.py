"""``manage.py run_sandbox [--host 127.0.0.1] [--port 8765]``: serve every destination sandbox until interrupted.

Meta's Graph API emulator answers under ``/meta/v25.0/...`` and its test controls under ``/_sandbox/meta/``;
point a destination's ``base_url`` at ``http://HOST:PORT/meta``. TikTok's (``/tiktok/open_api/v1.3``) and
Google Data Manager's (``/google/v1``) emulators sit next to it, with ``/_sandbox/tiktok/`` and
``/_sandbox/google/`` controls. The state lives in memory and is lost when
the process stops. Never expose it beyond localhost: it accepts any token.
"""

from __future__ import annotations

import logging

from django.core.management.base import BaseCommand, CommandParser

from audience_ops.destinations.sandbox.server import make_sandbox_server


class Command(BaseCommand):
    help = "Serve the destination sandboxes (Meta, TikTok, Google, analytics, webhook) on localhost until interrupted."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8765, help="port to listen on (default 8765)")
        parser.add_argument("--log-requests", action="store_true", help="log each request's method and path")

    def handle(self, *args, **options) -> None:
        if options["log_requests"]:
            logging.getLogger("audience_ops.destinations.sandbox.server").setLevel(logging.DEBUG)
        server = make_sandbox_server(options["host"], options["port"])
        host, port = server.server_address[:2]
        self.stdout.write(
            f"Sandbox serving on http://{host}:{port} (Meta: /meta, TikTok: /tiktok/open_api/v1.3, "
            "Google: /google/v1, analytics: /segment, webhooks: /webhook). Ctrl-C stops it."
        )
        self.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()

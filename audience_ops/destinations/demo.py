"""The demo's destination: Meta Custom Audiences served by the local sandbox (``SANDBOX_BASE_URL``)."""

from __future__ import annotations

from typing import TextIO

from django.conf import settings

from .models import Destination
from .sandbox import meta as meta_sandbox
from .services import destination_create, destination_update

DEMO_DESTINATION_NAME = "Meta sandbox"


def demo_destination_config() -> dict:
    """A Meta destination on the sandbox; the token is a demo value the sandbox accepts (any token works)."""
    return {
        "base_url": settings.SANDBOX_BASE_URL.rstrip("/") + meta_sandbox.API_PREFIX,
        "api_version": "v25.0",
        "ad_account_id": "1000000000001",
        "access_token": "sandbox-demo-token-not-a-secret",
        "identifiers": ["email", "phone"],
        "phone_region": "US",
    }


def ensure_demo_destination(*, stdout: TextIO | None = None) -> Destination:
    """Create the demo's Meta sandbox destination once; keep its base URL in step with ``SANDBOX_BASE_URL``."""
    config = demo_destination_config()
    destination = Destination.objects.filter(name=DEMO_DESTINATION_NAME).first()
    if destination is None:
        destination = destination_create(
            actor=None, name=DEMO_DESTINATION_NAME, kind="meta_custom_audience", config=config
        )
        if stdout is not None:
            stdout.write(f"Created destination {destination.name} ({config['base_url']})\n")
    elif destination.config.get("base_url") != config["base_url"]:
        destination = destination_update(
            actor=None, destination=destination, config={**destination.config, "base_url": config["base_url"]}
        )
    return destination

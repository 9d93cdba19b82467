"""The demo's destinations: Meta, TikTok and Google Customer Match on the local sandbox (``SANDBOX_BASE_URL``)."""

from __future__ import annotations

from typing import TextIO

from django.conf import settings

from .models import Destination
from .sandbox import google as google_sandbox
from .sandbox import meta as meta_sandbox
from .sandbox import tiktok as tiktok_sandbox
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


DEMO_TIKTOK_NAME = "TikTok sandbox"
DEMO_GOOGLE_NAME = "Google sandbox"


def demo_tiktok_config() -> dict:
    """A TikTok destination on the sandbox (any token works there)."""
    return {
        "base_url": settings.SANDBOX_BASE_URL.rstrip("/") + tiktok_sandbox.API_PREFIX + tiktok_sandbox.VERSION_PREFIX,
        "advertiser_id": "7000000000001",
        "access_token": "sandbox-demo-token-not-a-secret",
        "identifiers": ["email", "phone"],
        "phone_region": "US",
        "email_strip_dots_and_tags": False,
    }


def demo_google_config() -> dict:
    """A Google Customer Match destination on the sandbox; consent comes from the default trait names."""
    return {
        "base_url": settings.SANDBOX_BASE_URL.rstrip("/") + google_sandbox.API_PREFIX + google_sandbox.VERSION_PREFIX,
        "operating_account_id": "1000000001",
        "user_list_id": "9000001",
        "access_token": "sandbox-demo-token-not-a-secret",
        "identifiers": ["email", "phone"],
        "phone_region": "US",
    }


def _ensure_named(name: str, kind: str, config: dict, stdout: TextIO | None) -> Destination:
    destination = Destination.objects.filter(name=name).first()
    if destination is None:
        destination = destination_create(actor=None, name=name, kind=kind, config=config)
        if stdout is not None:
            stdout.write(f"Created destination {destination.name} ({config['base_url']})\n")
    elif destination.config.get("base_url") != config["base_url"]:
        destination = destination_update(
            actor=None, destination=destination, config={**destination.config, "base_url": config["base_url"]}
        )
    return destination


def ensure_demo_tiktok_destination(*, stdout: TextIO | None = None) -> Destination:
    """Create the demo's TikTok sandbox destination once; keep its base URL in step with ``SANDBOX_BASE_URL``."""
    return _ensure_named(DEMO_TIKTOK_NAME, "tiktok_audience", demo_tiktok_config(), stdout)


def ensure_demo_google_destination(*, stdout: TextIO | None = None) -> Destination:
    """Create the demo's Google Customer Match sandbox destination once (same rules as the others)."""
    return _ensure_named(DEMO_GOOGLE_NAME, "google_customer_match", demo_google_config(), stdout)

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


# --- analytics, webhook and warehouse (journey state) ------------------------------------------------------

DEMO_ANALYTICS_NAME = "Analytics sandbox"
DEMO_WEBHOOK_NAME = "Webhook sandbox"
DEMO_WAREHOUSE_NAME = "Warehouse (PostgreSQL)"
DEMO_WAREHOUSE_SCHEMA = "audience_ops_warehouse"


def demo_analytics_config() -> dict:
    """The analytics destination on the sandbox's Segment-Spec receiver (any write key works there)."""
    from .sandbox import receivers

    return {
        "host": settings.SANDBOX_BASE_URL.rstrip("/") + receivers.SEGMENT_API_PREFIX,
        "write_key": "sandbox-demo-write-key",
    }


def demo_webhook_config() -> dict:
    """The webhook destination on the sandbox's Standard Webhooks receiver, with the receiver's secret."""
    from .sandbox import receivers

    return {
        "url": settings.SANDBOX_BASE_URL.rstrip("/") + receivers.WEBHOOK_API_PREFIX + "/audiences",
        "secret": receivers.SANDBOX_WEBHOOK_SECRET,
    }


def demo_warehouse_url() -> str | None:
    """``WAREHOUSE_DEMO_URL``, else ``DATABASE_URL`` when it is PostgreSQL; None on the embedded SQLite demo
    (the warehouse adapter needs PostgreSQL: it writes with COPY)."""
    import os

    for name in ("WAREHOUSE_DEMO_URL", "DATABASE_URL"):
        value = os.environ.get(name, "")
        if value.startswith(("postgres://", "postgresql://")):
            return value
    return None


def ensure_demo_event_destinations(*, stdout: TextIO | None = None) -> list[Destination]:
    """The analytics and webhook sandbox destinations, and the warehouse when a PostgreSQL URL is set."""
    destinations = [
        _ensure_event_destination(DEMO_ANALYTICS_NAME, "segment_analytics", demo_analytics_config(), "host", stdout),
        _ensure_event_destination(DEMO_WEBHOOK_NAME, "webhook", demo_webhook_config(), "url", stdout),
    ]
    url = demo_warehouse_url()
    if url is None:
        if stdout is not None:
            stdout.write("  (no PostgreSQL URL: the warehouse destination is left out of the SQLite demo)\n")
        return destinations
    warehouse = Destination.objects.filter(name=DEMO_WAREHOUSE_NAME).first()
    if warehouse is None:
        warehouse = destination_create(
            actor=None,
            name=DEMO_WAREHOUSE_NAME,
            kind="postgres_warehouse",
            config={"url": url, "schema": DEMO_WAREHOUSE_SCHEMA, "hash_identifiers": True},
        )
        if stdout is not None:
            stdout.write(f"Created destination {warehouse.name} (schema {DEMO_WAREHOUSE_SCHEMA})\n")
    return [*destinations, warehouse]


def _ensure_event_destination(name: str, kind: str, config: dict, url_key: str, stdout: TextIO | None) -> Destination:
    """Create once; keep the sandbox URL in step with ``SANDBOX_BASE_URL`` (secrets are kept as stored)."""
    destination = Destination.objects.filter(name=name).first()
    if destination is None:
        destination = destination_create(actor=None, name=name, kind=kind, config=config)
        if stdout is not None:
            stdout.write(f"Created destination {destination.name} ({config[url_key]})\n")
    elif url_key in destination.config and destination.config[url_key] != config[url_key]:
        destination = destination_update(
            actor=None, destination=destination, config={**destination.config, url_key: config[url_key]}
        )
    return destination

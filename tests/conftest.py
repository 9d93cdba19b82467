"""Fixtures shared by the whole suite: users per role, Redis for jobs, a real Chromium for browser tests.

CI (``CI=true``) points ``DATABASE_URL`` and ``REDIS_URL`` at real servers; a missing server or browser
fails there instead of skipping. Locally, without ``REDIS_URL``, an embedded Redis-protocol server is used.
"""

from __future__ import annotations

import os
import shutil

import pytest
from django.conf import settings

from audience_ops.accounts.roles import Role
from audience_ops.accounts.services import user_create
from tests.destinations.conftest import (  # noqa: F401 - shared sandbox fixtures
    google_destination,
    google_sandbox,
    meta_destination,
    meta_sandbox,
    sandbox_server,
    tiktok_destination,
    tiktok_sandbox,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PASSWORD = "correct-horse-battery"


def _make_user(username: str, role: str):
    return user_create(actor=None, username=username, role=role, email=f"{username}@example.com", password=PASSWORD)


@pytest.fixture
def marketer(db):
    return _make_user("maria", Role.MARKETER)


@pytest.fixture
def ops_user(db):
    return _make_user("omar", Role.OPS)


@pytest.fixture
def admin_user(db):
    return _make_user("ada", Role.ADMIN)


@pytest.fixture
def marketer_client(client, marketer):
    client.force_login(marketer)
    return client


@pytest.fixture
def ops_client(client, ops_user):
    client.force_login(ops_user)
    return client


@pytest.fixture
def admin_client_role(client, admin_user):
    """A client signed in as a user with the *admin role* (not a Django superuser)."""
    client.force_login(admin_user)
    return client


@pytest.fixture(scope="session")
def redis_server():
    """A reachable Redis-protocol server for RQ: the real one from REDIS_URL, else the embedded one."""
    from redis import Redis

    from audience_ops.core.embedded import start_embedded_redis

    if not settings.REDIS_URL:
        start_embedded_redis(settings.EMBEDDED_REDIS_PORT)
    connection = Redis.from_url(settings.RQ_REDIS_URL)
    try:
        connection.ping()
    except Exception as exc:
        message = f"Redis at {settings.RQ_REDIS_URL} is not reachable: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return connection


@pytest.fixture
def rq_queues(redis_server):
    """Empty RQ queues for a test, emptied again afterwards."""
    import django_rq

    queues = [django_rq.get_queue(name) for name in settings.RQ_QUEUES]
    for queue in queues:
        queue.empty()
    yield queues
    for queue in queues:
        queue.empty()


def chromium_path() -> str | None:
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (no browser download)."""
    path = chromium_path()
    if not path:
        message = "Chromium is not installed (apt-get install chromium), browser tests need it"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=path,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15000)
    yield page
    context.close()


def login(page, live_server, username: str, password: str = PASSWORD) -> None:
    """Sign in through the real login form."""
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server.url}/")

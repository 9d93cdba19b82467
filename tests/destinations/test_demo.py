"""The demo's sandbox destination and the sandbox child process."""

from __future__ import annotations

import socket

import pytest
import requests

from audience_ops.destinations.demo import DEMO_DESTINATION_NAME, ensure_demo_destination
from audience_ops.destinations.models import Destination
from audience_ops.destinations.registry import adapter_for
from audience_ops.destinations.sandbox.process import start_sandbox_process


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_demo_destination_is_created_once_and_follows_the_sandbox_url(settings, meta_sandbox):
    settings.SANDBOX_BASE_URL = meta_sandbox.server_url

    first = ensure_demo_destination()
    again = ensure_demo_destination()
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:9999"
    moved = ensure_demo_destination()

    assert first.pk == again.pk == moved.pk and Destination.objects.count() == 1
    assert first.name == DEMO_DESTINATION_NAME
    assert "Connected to ad account" in adapter_for(first).test_connection()
    assert moved.config["base_url"] == "http://127.0.0.1:9999/meta"


def test_the_demo_starts_the_sandbox_as_a_child_process():
    url = f"http://127.0.0.1:{free_port()}"

    process = start_sandbox_process(url)
    try:
        assert process is not None
        assert requests.get(url + "/", timeout=5).json()["sandboxes"]["meta"]["api"] == "/meta"
        # a second start finds the port taken and leaves the running sandbox alone
        assert start_sandbox_process(url) is None
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_remote_sandbox_url_starts_nothing():
    assert start_sandbox_process("https://sandbox.example.com") is None

"""Makes the client address of the current web request available to :func:`~.services.audit_record`.

Services are called from views, commands and jobs alike and take no request; the address is request
metadata, so it travels in a context variable instead of through every service signature. Outside a request
(commands, jobs) it is ``None``. Only ``REMOTE_ADDR`` is read: behind a proxy that is the proxy's address
unless the proxy (or gunicorn's ``--forwarded-allow-ips``) sets it, since a forwarded-for header is client
controlled.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

_request_ip: ContextVar[str | None] = ContextVar("audit_request_ip", default=None)


def request_ip() -> str | None:
    """The client address of the request being handled, or None outside a request."""
    return _request_ip.get()


def _valid_ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class AuditRequestMiddleware:
    """Remembers the request's client address for the duration of the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request_ip.set(_valid_ip(request.META.get("REMOTE_ADDR")))
        try:
            return self.get_response(request)
        finally:
            _request_ip.reset(token)

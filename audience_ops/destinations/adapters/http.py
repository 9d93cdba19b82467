"""The HTTP plumbing every platform adapter shares: one call with transport failures made transient, the
JSON body as a dict, ``Retry-After``-style headers read as seconds, and a plain HTTP status mapped to a
transient or permanent error.

Each adapter keeps its own reading of the platform's error body (Meta's codes, TikTok's envelope, Google's
statuses): only what is the same everywhere lives here, so a fix to timeouts or retry headers is made once.
"""

from __future__ import annotations

from typing import Any

import requests

from .base import DestinationError, PermanentError, TransientError

MASK = "••••"


def call(
    session: requests.Session,
    method: str,
    url: str,
    *,
    who: str,
    secret: str | None = None,
    **kwargs: Any,
) -> requests.Response:
    """One request through ``session``; a timeout or a connection failure becomes a :class:`TransientError`.

    ``who`` names the other side in the message ("Meta", "The webhook endpoint"). With ``secret`` (a token
    that may appear in the URL) the message carries the exception's text with the secret masked; without
    it, only the exception's type, since the text may hold a URL with credentials the adapter cannot mask.
    """
    try:
        return session.request(method, url, **kwargs)
    except requests.Timeout as exc:
        detail = f": {_masked(exc, secret)}" if secret is not None else ""
        raise TransientError(f"{who} did not answer in time{detail}", code="timeout") from None
    except requests.RequestException as exc:
        detail = _masked(exc, secret) if secret is not None else type(exc).__name__
        raise TransientError(f"{who} could not be reached: {detail}", code="connection") from None


def _masked(exc: Exception, secret: str) -> str:
    return str(exc).replace(secret, MASK) if secret else str(exc)


def json_object(response: requests.Response) -> dict[str, Any]:
    """The response's JSON body when it is an object, else ``{}`` (no body, HTML error page, a list)."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(response: requests.Response, *headers: str) -> float | None:
    """Seconds to wait from the first of ``headers`` (default ``Retry-After``) holding a number; never negative."""
    for header in headers or ("Retry-After",):
        value = response.headers.get(header)
        if value:
            try:
                return max(0.0, float(value))
            except ValueError:
                continue
    return None


def status_error(
    response: requests.Response,
    message: str,
    *,
    retry_after: float | None = None,
    body: dict[str, Any] | None = None,
) -> DestinationError:
    """The error for a failed HTTP status without a platform error to read: 429 and 5xx are transient
    (with ``retry_after``), anything else is permanent. The code is the status."""
    status = response.status_code
    if status == 429 or status >= 500:
        return TransientError(message, code=str(status), response=body, retry_after=retry_after)
    return PermanentError(message, code=str(status), response=body)


def as_int(value: Any, *, default: int = 0) -> int:
    """A count from a platform body: ``int(value)``, or ``default`` when it is missing or not a number."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default

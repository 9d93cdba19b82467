"""Just enough HTTP for the sandbox emulators, on plain WSGI: parse a request, build a JSON response."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

# Bodies bigger than this are refused: a 10,000-row multi-key upload is a few MB.
MAX_BODY_BYTES = 64 * 1024 * 1024


@dataclass
class Request:
    """A parsed request: query and form/JSON body merged into ``params`` (the body wins)."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]
    json_body: Any = None
    raw_body: bytes = b""  # the body as received (the webhook receiver verifies signatures over it)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    410: "Gone",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def parse_request(environ: dict[str, Any]) -> Request:
    """Method, path, query string, urlencoded or JSON body, and headers of a WSGI request."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    path = environ.get("PATH_INFO", "/") or "/"
    params: dict[str, Any] = {key: values[-1] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
    headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    json_body = None
    raw = b""
    if 0 < length <= MAX_BODY_BYTES:
        raw = environ["wsgi.input"].read(length)
        content_type = environ.get("CONTENT_TYPE", "")
        if "json" in content_type:
            try:
                json_body = json.loads(raw or b"null")
            except ValueError:
                json_body = None
            if isinstance(json_body, dict):
                params.update(json_body)
        else:
            text = raw.decode("utf-8", errors="replace")
            params.update({key: values[-1] for key, values in parse_qs(text, keep_blank_values=True).items()})
    elif length > MAX_BODY_BYTES:
        params["__too_large__"] = True
    return Request(method=method, path=path, params=params, headers=headers, json_body=json_body, raw_body=raw)


def send(response: Response, start_response: Any) -> Iterable[bytes]:
    """Serialise ``response`` as JSON through ``start_response``."""
    payload = json.dumps(response.body, separators=(",", ":")).encode()
    reason = _REASONS.get(response.status, "Unknown")
    headers = [("Content-Type", "application/json; charset=utf-8"), ("Content-Length", str(len(payload)))]
    headers.extend(response.headers.items())
    start_response(f"{response.status} {reason}", headers)
    return [payload]

"""The request body, read once and bounded by http.max_body_bytes whatever its framing.

Why not Flask's MAX_CONTENT_LENGTH alone: it refuses a Content-Length over the limit, but
a chunked body (no Content-Length; gunicorn sets wsgi.input_terminated) is wrapped by
Werkzeug in a LimitedStream that stops at the limit, and `get_data()` returned that
prefix: a 1.5 MB body was cut and a body that is valid JSON in its first MiB was sent.

So, before any view or the Idempotency-Key check reads it, the body of every endpoint
that takes one is read here with a bound of limit + 1 bytes: more than the limit is a 413,
never a prefix. The body is then kept in the environ (params.BODY_KEY) and put back as a
plain stream with its exact Content-Length, so anything that reads `request.data` later
reads the same bytes. What a refused client had not sent yet, gunicorn reads and drops
before the next request on that connection.
"""

from __future__ import annotations

import io
from typing import Any

from flask import Flask, Response, current_app, request

from gateway.http.params import BODY_KEY
from gateway.http.responses import error

#: Endpoints whose views read a body; the others never read one, so it is not read here.
BODY_ENDPOINTS = frozenset({"sms.send", "bulk.send", "converted.converted", "usage.bycountry"})
READ_SIZE = 64 * 1024


class BodyTooLarge(Exception):
    """The body is longer than the limit (by Content-Length, or by what arrived)."""


class BodyUnreadable(Exception):
    """The body could not be read: the client went away, or its chunked framing is broken."""


def install(app: Flask) -> None:
    """Register the bounded read; after authentication, before anything parses the body."""
    app.before_request(_read_body)


def too_large_text(limit: int) -> str:
    return f"request body larger than {limit} bytes"


def _read_body() -> Response | None:
    if request.endpoint not in BODY_ENDPOINTS:
        return None
    limit: int = current_app.config["MAX_CONTENT_LENGTH"]
    environ = request.environ
    try:
        body = read_bounded(environ, limit)
    except BodyTooLarge:
        return error(too_large_text(limit), 413)
    except BodyUnreadable as exc:
        return error(str(exc), 400)
    environ[BODY_KEY] = body
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)  # now an ordinary Content-Length body
    return None


def read_bounded(environ: dict[str, Any], limit: int) -> bytes:
    """The whole body, or BodyTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = environ.get("CONTENT_LENGTH") or ""
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if not chunked and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    if not chunked and not declared and "wsgi.input_terminated" not in environ:
        return b""  # no framing the server vouches for: reading could wait forever (PEP 3333)
    stream = environ["wsgi.input"]
    parts: list[bytes] = []
    received = 0
    while received <= limit:
        try:
            part = stream.read(min(READ_SIZE, limit + 1 - received))
        except Exception as exc:  # a socket error, or the server's chunk-framing error
            raise BodyUnreadable(f"request body could not be read: {type(exc).__name__}") from None
        if not part:
            return b"".join(parts)
        parts.append(part)
        received += len(part)
    raise BodyTooLarge

"""A client's rate (`rate` parts per second, `burst` at once) before anything is stored.

The bucket is a row in the store (`client:<name>`), so the limit holds however requests
spread over HTTP workers and daemons. A request takes all its parts or none: over the
limit it is answered 429 with Retry-After and nothing is stored, so a retry sends it
once."""

from __future__ import annotations

import logging
import math

from flask import Response

from gateway import metrics
from gateway.clients import Client
from gateway.http.responses import json_response
from gateway.store import Store, StoreError

log = logging.getLogger("gateway.http")


def over_rate(store: Store, client: Client, parts: int) -> Response | None:
    """The 429 (or 503) answer when `parts` would exceed the client's rate; else None."""
    if not client.rate or parts <= 0:
        return None
    if parts > client.burst:
        metrics.CLIENT_RATE_LIMITED.labels(client.name).inc()
        text = (
            f"Too many requests: {parts} SMS parts at once, more than client"
            f" {client.name!r} may send in one go ({client.burst:g}); split the request"
        )
        return json_response(text, 429)
    try:
        taken, wait = store.take_tokens(
            f"client:{client.name}", client.rate, client.burst, parts, whole=True
        )
    except StoreError as exc:
        log.error("store refused a rate-limit token: %s", exc)
        return json_response("Internal error", 503)
    if taken:
        return None
    metrics.CLIENT_RATE_LIMITED.labels(client.name).inc()
    response = json_response(
        f"Too many requests: client {client.name!r} may send {client.rate:g} SMS parts a second",
        429,
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response

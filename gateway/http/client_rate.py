"""A client's rate and quotas, checked before anything is stored (docs/clients.md).

Rate: `rate` parts per second, `burst` at once; the bucket is a row in the store
(`client:<name>`), so the limit holds however requests spread over HTTP workers and
daemons. Quotas: parts per UTC day and month, counted in the store when a request passes.
A request takes all its parts or none: over a limit it is answered 429 and nothing is
stored, so a retry sends it once."""

from __future__ import annotations

import logging
import math
import time

from flask import Response

from gateway import metrics
from gateway.clients import Client, quota_periods
from gateway.http.responses import json_response
from gateway.store import Store, StoreError
from gateway.timefmt import iso_from_seconds

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


def over_quota(
    store: Store, client: Client, parts: int, now: float | None = None
) -> Response | None:
    """The 429 answer when `parts` would pass one of the client's quotas; else None (and
    the parts are counted)."""
    periods = quota_periods(client, time.time() if now is None else now)
    if not periods or parts <= 0:
        return None
    try:
        spent = store.spend_quota(client.name, [(k, limit) for k, limit, _ in periods], parts)
    except StoreError as exc:
        log.error("store refused a quota count: %s", exc)
        return json_response("Internal error", 503)
    if spent is None:
        return None
    key, limit, resets = next(p for p in periods if p[0] == spent)
    metrics.CLIENT_QUOTA_SPENT.labels(client.name).inc()
    which = "day" if len(key) == 10 else "month"
    response = json_response(
        f"Quota spent: client {client.name!r} may send {limit} SMS parts a {which} ({key});"
        f" it resets at {iso_from_seconds(resets)}",
        429,
    )
    response.headers["Retry-After"] = str(max(1, math.ceil(resets - time.time())))
    return response

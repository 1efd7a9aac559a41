"""The Idempotency-Key header on POST /sms and POST /smsbulk.

A request with a key that this API key used within the window gets the first answer
again and sends nothing; the same key with a different request is refused with 422.
The answer is stored with the messages in one transaction (Store.accept_idempotent),
so it survives a restart and two concurrent requests with one key cannot both send.

Only requests that accepted at least one message leave a record: a refused or test
request sends nothing, so repeating it is harmless and it is simply answered again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, current_app, g, request

from gateway import metrics
from gateway.http.context import Services
from gateway.http.params import BadParameter, BadRequest, request_parameters
from gateway.http.responses import error
from gateway.model import NewMessage
from gateway.model_api import IdempotencyRecord
from gateway.store import StoreError

log = logging.getLogger("gateway.http")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
ENDPOINTS = {"sms.send": "sms", "bulk.send": "smsbulk"}  # endpoint -> what the hash names
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as header values travel safely
IGNORED_PARAMETERS = frozenset({"format"})  # changes how the answer looks, not what is sent


@dataclass(frozen=True)
class Pending:
    """The key of the request being answered and the hash of what it asks for."""

    key: str
    request_hash: str


def install(app: Flask) -> None:
    """Register the check; after authentication, so the API key is known."""
    app.before_request(_check)


def request_hash(kind: str, params: Mapping[str, Any]) -> str:
    """sha256 over the endpoint and its parameters (query and body), order-independent."""
    material = {k: v for k, v in params.items() if k not in IGNORED_PARAMETERS}
    text = json.dumps([kind, material], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _check() -> Response | None:
    """Answer a repeat from its record before anything is composed or written."""
    kind = ENDPOINTS.get(request.endpoint or "")
    key = request.headers.get(HEADER)
    if kind is None or key is None or "api_key_id" not in g:
        return None
    if not _KEY.fullmatch(key):
        return error(f"{HEADER} must be 1 to 255 visible ASCII characters", 400, field=HEADER)
    try:
        params = request_parameters(request)
    except (BadRequest, BadParameter):
        return None  # the endpoint answers it; nothing will be stored
    pending = Pending(key, request_hash(kind, params))
    g.idempotency = pending
    svc: Services = current_app.extensions["gateway"]
    try:
        record = svc.store.get_idempotency(g.api_key_id, key, svc.clock_ns() / 1e9)
    except StoreError as exc:  # the write re-checks inside its transaction
        log.warning("idempotency lookup failed: %s", exc)
        return None
    return None if record is None else answer_from(record, pending)


def answer_from(record: IdempotencyRecord, pending: Pending) -> Response:
    """The stored answer for a repeat, or 422 when the key named another request."""
    if record.request_hash != pending.request_hash:
        return error(
            f"{HEADER} {pending.key!r} was already used with a different request within "
            "the idempotency window; send a new request with a new key",
            422,
        )
    metrics.IDEMPOTENT_REPLAYS.inc()
    response = Response(record.response, status=record.status, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response


def accept(
    svc: Services, messages: Sequence[NewMessage], reply: Any, status: int = 200
) -> Response | None:
    """Make `messages` durable, with `reply` as the key's stored answer when the request
    carries a key. None when stored (answer `reply`); otherwise the Response to give
    instead, because a request with the same key committed first. Raises StoreError."""
    pending: Pending | None = g.get("idempotency")
    if pending is None:
        svc.store.accept(messages)
        return None
    now = svc.clock_ns() / 1e9
    record = IdempotencyRecord(
        api_key_id=g.api_key_id,
        key=pending.key,
        request_hash=pending.request_hash,
        status=status,
        response=current_app.json.response(reply).get_data(as_text=True),  # as sent
        created_at=now,
        expires_at=now + svc.config.http.idempotency_window,
    )
    existing = svc.store.accept_idempotent(messages, record)
    return None if existing is None else answer_from(existing, pending)

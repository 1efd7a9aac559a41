"""The Idempotency-Key header on POST /sms and POST /smsbulk.

A request with a key that this API key used within the window gets the first answer
again and sends nothing; the same key with a different request is refused with 422.
The answer is stored with the messages in one transaction (gateway/sending.py), so it
survives a restart and two concurrent requests with one key cannot both send. The views
pass the key explicitly: header_key, key_for, repeat before composing, answer_from after.

Only requests that accepted at least one message leave a record: a refused or test
request sends nothing, so repeating it is harmless and it is simply answered again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Request, Response, request

from gateway import metrics
from gateway.http.params import BadParameter, BadRequest, request_parameters
from gateway.http.responses import error
from gateway.model_api import IdempotencyRecord
from gateway.sending import Answer, IdempotencyKey, Sender
from gateway.store import StoreError

log = logging.getLogger("gateway.http")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as header values travel safely
IGNORED_PARAMETERS = frozenset({"format"})  # changes how the answer looks, not what is sent


def header_key(request: Request) -> str | None:
    """The request's Idempotency-Key, or None; BadParameter when it is malformed."""
    key = request.headers.get(HEADER)
    if key is not None and not _KEY.fullmatch(key):
        raise BadParameter(HEADER, "must be 1 to 255 visible ASCII characters")
    return key


def read_send(
    kind: str, api_key_id: str, sender: Sender
) -> tuple[dict[str, Any], IdempotencyKey | None] | Response:
    """A send's parameters and its Idempotency-Key (`kind`: sms or smsbulk); or the answer
    to give instead: 400 for a request that cannot be read, the earlier answer for a
    repeat (nothing is composed or written for it)."""
    try:
        header = header_key(request)
        params = request_parameters(request)
    except BadRequest as exc:
        return error(str(exc), 400)
    except BadParameter as exc:
        return error(str(exc), 400, field=exc.name)
    key = key_for(kind, api_key_id, header, params)
    repeated = repeat(sender, key)
    return (params, key) if repeated is None else repeated


def request_hash(kind: str, params: Mapping[str, Any]) -> str:
    """sha256 over the endpoint and its parameters (query and body), order-independent."""
    material = {k: v for k, v in params.items() if k not in IGNORED_PARAMETERS}
    text = json.dumps([kind, material], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def key_for(
    kind: str, api_key_id: str, header: str | None, params: Mapping[str, Any]
) -> IdempotencyKey | None:
    """The request's key bound to what it asks for (`kind`: sms or smsbulk), or None."""
    if header is None:
        return None
    return IdempotencyKey(api_key_id, header, request_hash(kind, params))


def repeat(sender: Sender, key: IdempotencyKey | None) -> Response | None:
    """The earlier answer to give instead of sending, when the key was used already."""
    if key is None:
        return None
    try:
        record = sender.earlier_answer(key)
    except StoreError as exc:  # the write re-checks inside its transaction
        log.warning("idempotency lookup failed: %s", exc)
        return None
    return None if record is None else answer_from(record, key)


def answer_from(record: IdempotencyRecord, key: IdempotencyKey) -> Response:
    """The stored answer for a repeat, or 422 when the key named another request."""
    if record.request_hash != key.request_hash:
        return error(
            f"{HEADER} {key.key!r} was already used with a different request within "
            "the idempotency window; send a new request with a new key",
            422,
        )
    metrics.IDEMPOTENT_REPLAYS.inc()
    response = Response(record.response, status=record.status, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response


def answer(response: Response) -> Answer:
    """What a repeat of this request will get: the very response sent now (rendered once)."""
    return Answer(response.status_code, response.get_data(as_text=True))

"""POST /smsbulk: one text to many receivers, in the provider's bulk shape.

The whole accepted batch is made durable by one store call (one transaction, one group
commit) and the engine is woken once: a bulk of 10,000 is one write, not 10,000.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g

from gateway import metrics, opt_out
from gateway.http import idempotency
from gateway.http.bulk_compose import BulkResult, compose_bulk, receivers
from gateway.http.client_rate import over_quota, over_rate
from gateway.http.context import Services
from gateway.http.params import BadParameter, BadRequest
from gateway.http.responses import RESPONSE_TEXT, error, json_response, timestamp
from gateway.sms.errors import INVALID_RECEIVER
from gateway.store import Store, StoreError

log = logging.getLogger("gateway.http")

blueprint = Blueprint("bulk", __name__)


@blueprint.route("/smsbulk", methods=["POST"], endpoint="send")
def send() -> Response:
    svc: Services = current_app.extensions["gateway"]
    now_ns = svc.clock_ns()
    read = idempotency.read_send("smsbulk", g.api_key_id, svc.sender)
    if isinstance(read, Response):
        return read
    params, key = read
    svc.unknown_fields.note(g.api_key_id, params)
    try:
        to = receivers(params.get("to"), svc.config.http.bulk_max_receivers)
        result = compose_bulk(
            params,
            to,
            svc.config,
            api_key_id=g.api_key_id,
            new_id=svc.new_id,
            created_at=now_ns / 1e9,
            stamp=timestamp(now_ns),
            client=g.client,
        )
    except BadRequest as exc:
        return error(str(exc), 400)
    except BadParameter as exc:
        return error(str(exc), 400, field=exc.name)
    try:
        _refuse_opted_out(svc.store, result)
    except StoreError as exc:
        return _store_failed(result, exc)
    status = 200 if 0 in result.codes else svc.config.http.validation_http_status
    response = json_response(result.body(), status)
    parts = sum(len(m.segments) for m in result.messages)
    limited = over_rate(svc.store, g.client, parts) or over_quota(svc.store, g.client, parts)
    if limited is not None:
        return limited
    if result.messages:
        try:
            earlier = svc.sender.accept(result.messages, key, idempotency.answer(response))
        except StoreError as exc:
            return _store_failed(result, exc)
        if earlier is not None and key is not None:  # a concurrent request with the key won
            return idempotency.answer_from(earlier, key)
    _count_codes(result)
    return response


def _refuse_opted_out(store: Store, result: BulkResult) -> None:
    """Receivers on the sender's opt-out list (gateway/opt_out.py) get responseCode 8."""
    if not result.messages:
        return
    sender = opt_out.address(result.messages[0].submit.source_addr)  # one sender per bulk
    blocked = store.opted_out(sender, [m.receiver for m in result.messages])
    if blocked:
        ids = {m.id for m in result.messages if m.receiver in blocked}
        result.refuse(ids, INVALID_RECEIVER, lambda m: opt_out.refusal(sender, m.receiver))


def _count_codes(result: BulkResult) -> None:
    for code, count in result.code_counts().items():
        metrics.response_codes(str(code), count, g.client.name)


def _store_failed(result: BulkResult, exc: StoreError) -> Response:
    """Nothing of the batch is known to be stored: answer responseCode 1, as /sms does."""
    log.error("store refused a bulk of %d: %s", len(result.messages), exc)
    metrics.response_codes("1", len(result.items), g.client.name)
    return json_response({"responseCode": 1, "responseText": RESPONSE_TEXT[1], "messages": []}, 503)

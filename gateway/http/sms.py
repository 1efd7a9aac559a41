"""POST /sms (and GET /sms for older clients): validate, make durable, answer."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g

from gateway import metrics, opt_out, sms
from gateway.http import idempotency
from gateway.http.client_rate import over_quota, over_rate
from gateway.http.compose import compose
from gateway.http.context import Services
from gateway.http.params import BadParameter
from gateway.http.responses import RESPONSE_TEXT, error, json_response, timestamp
from gateway.store import StoreError

log = logging.getLogger("gateway.http")

blueprint = Blueprint("sms", __name__)
MAX_ID_LENGTH = 64  # gateway ids are 36 characters


def services() -> Services:
    return current_app.extensions["gateway"]


@blueprint.route("/sms", methods=["POST", "GET"], endpoint="send")
def send() -> Response:
    svc = services()
    now_ns = svc.clock_ns()
    read = idempotency.read_send("sms", g.api_key_id, svc.sender)
    if isinstance(read, Response):
        return read
    params, key = read
    svc.unknown_fields.note(g.api_key_id, params)
    to_given = params.get("to")
    base: dict[str, Any] = {"timestamp": timestamp(now_ns)}
    if isinstance(to_given, str | int):
        base["to"] = str(to_given)
    try:
        composed = compose(
            params,
            svc.config,
            api_key_id=g.api_key_id,
            message_id=svc.new_id(),
            created_at=now_ns / 1e9,
            client=g.client,
        )
    except sms.SmsError as exc:
        return _refused(base, exc.code, exc.detail)
    except BadParameter as exc:
        return error(str(exc), 400, field=exc.name)
    message = composed.message
    body = {
        **base,
        "responseCode": 0,
        "responseText": RESPONSE_TEXT[0],
        "textLength": message.text_length,
        "messageParts": composed.parts,
    }
    if composed.test:
        metrics.response_codes("0", 1, g.client.name)
        return json_response({**body, "test": True})
    sender = opt_out.address(message.submit.source_addr)
    try:
        blocked = svc.store.opted_out(sender, [message.receiver])
    except StoreError as exc:
        return _store_refused(base, exc)
    if blocked:
        return _refused(base, 8, opt_out.refusal(sender, message.receiver))
    limited = over_rate(svc.store, g.client, composed.parts) or over_quota(
        svc.store, g.client, composed.parts
    )
    if limited is not None:
        return limited
    response = json_response({"id": message.id, **body})
    try:
        earlier = svc.sender.accept([message], key, idempotency.answer(response))
    except StoreError as exc:
        return _store_refused(base, exc)
    if earlier is not None and key is not None:  # a concurrent request with the key won
        return idempotency.answer_from(earlier, key)
    metrics.response_codes("0", 1, g.client.name)
    return response


def _store_refused(base: dict[str, Any], exc: StoreError) -> Response:
    log.error("store refused message: %s", exc)
    metrics.response_codes("1", 1, g.client.name)
    return json_response(
        {**base, "responseCode": 1, "responseText": RESPONSE_TEXT[1], "textLength": 0}, 503
    )


def _refused(base: dict[str, Any], code: int, detail: str) -> Response:
    metrics.response_codes(str(code), 1, g.client.name)
    status = services().config.http.validation_http_status
    payload = {
        **base,
        "responseCode": code,
        "responseText": RESPONSE_TEXT[code],
        "textLength": 0,
        "detail": detail,
    }
    return json_response(payload, status)


@blueprint.route("/sms/<message_id>", methods=["GET"], endpoint="status")
def message_status(message_id: str) -> Response:
    # ids are UUIDs: a long or unprintable one (%00 in the path) cannot exist, and
    # PostgreSQL would refuse a NUL in the query rather than find nothing
    known = len(message_id) <= MAX_ID_LENGTH and message_id.isprintable()
    view = services().store.get_message(message_id) if known else None
    if view is None:
        return error(f'No message found for id "{message_id}"', 404)
    return json_response(
        {
            "id": view.id,
            "status": view.state.public,
            "state": view.state.value,
            "to": view.receiver,
            "timestamp": timestamp(int(view.created_at * 1e9)),
            "textLength": view.text_length,
            "messageParts": view.segment_count,
            "reference": view.reference,
            "error": view.error,
            "smppStatus": view.smpp_status,
            "smscMessageIds": list(view.smsc_message_ids),
            "history": [
                {"timestamp": timestamp(int(at * 1e9)), "state": state, "detail": detail}
                for at, state, detail in view.history
            ],
            "client": view.client,
        }
    )

"""POST /sms/converted {messageId}: conversion tracking, as the provider offers it.

Answers are JSON strings, as the provider's are: 200 "OK"; 400 when tracking is off
(or the request is unusable); 404 `No convertible message found for id "<id>"`; 429
past the per-key rate. A message is convertible by the API key that sent it.
"""

from __future__ import annotations

import logging
import math

from flask import Blueprint, Response, current_app, g, request

from gateway import metrics
from gateway.http.context import Services
from gateway.http.params import BadParameter, BadRequest, optional_str, request_parameters
from gateway.http.responses import json_response
from gateway.model_api import Conversion
from gateway.store import StoreError

log = logging.getLogger("gateway.http")

blueprint = Blueprint("converted", __name__)
NOT_ENABLED = "Conversion rate tracking is not enabled for this customer account"
TOO_MANY = "Too many requests"
MAX_ID_LENGTH = 64  # gateway ids are 36 characters


@blueprint.route("/sms/converted", methods=["POST"], endpoint="converted")
def converted() -> Response:
    svc: Services = current_app.extensions["gateway"]
    if not svc.config.http.conversion_tracking:
        return json_response(NOT_ENABLED, 400)
    try:  # a bucket in the store: the limit holds however requests spread over workers
        http = svc.config.http
        wait = svc.store.take_token(
            f"conversion:{g.api_key_id}", http.conversion_rate, http.conversion_burst
        )
    except StoreError as exc:
        log.error("store refused a rate-limit token: %s", exc)
        return json_response("Internal error", 503)
    if wait > 0:
        response = json_response(TOO_MANY, 429)
        response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
        return response
    try:
        message_id = optional_str(request_parameters(request), "messageId", MAX_ID_LENGTH)
    except (BadRequest, BadParameter) as exc:
        return json_response(str(exc), 400)
    if not message_id or not message_id.strip():
        return json_response("messageId: required", 400)
    try:
        outcome = svc.store.mark_converted(message_id, g.api_key_id, svc.clock_ns() / 1e9)
    except StoreError as exc:
        log.error("store refused a conversion: %s", exc)
        return json_response("Internal error", 503)
    if outcome is Conversion.UNKNOWN:
        return json_response(f'No convertible message found for id "{message_id}"', 404)
    if outcome is Conversion.CONVERTED:
        metrics.CONVERSIONS.inc()
    return json_response("OK", 200)

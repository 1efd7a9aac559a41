"""POST /usage/bycountry {startDate, endDate, accountName}: messages per country.

One account per gateway (setting http.account_name): every API key belongs to it and
the usage covers the messages of all keys; a client with its own `account_name`
([clients.NAME], docs/clients.md) names that instead and sees its own messages only.
Errors are {"error": ...}: 400 for dates (the provider's own text past 31 days), 403 for
another account's name.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, g, request

from gateway.http.context import Services
from gateway.http.params import BadParameter, BadRequest, optional_str, request_parameters
from gateway.http.responses import error, json_response
from gateway.store import StoreError
from gateway.usage import PeriodError, parse_period, usage_rows

log = logging.getLogger("gateway.http")

blueprint = Blueprint("usage", __name__)


@blueprint.route("/usage/bycountry", methods=["POST"], endpoint="bycountry")
def by_country() -> Response:
    svc: Services = current_app.extensions["gateway"]
    try:
        params = request_parameters(request)
        account = optional_str(params, "accountName", 255)
        period = parse_period(params.get("startDate"), params.get("endDate"))
    except BadRequest as exc:
        return error(str(exc), 400)
    except BadParameter as exc:
        return error(str(exc), 400, field=exc.name)
    except PeriodError as exc:
        return error(str(exc), 400)
    if not account:
        return error("accountName is required", 400, field="accountName")
    own = g.client.account_name
    if account != (own or svc.config.http.account_name):
        return error("accountName is not the account of this API key", 403, field="accountName")
    try:
        usage = svc.store.usage_by_receiver(
            period.start, period.end, g.client.name if own else None
        )
    except StoreError as exc:
        log.error("usage query failed: %s", exc)
        return error("Internal error", 503)
    return json_response(usage_rows(usage))

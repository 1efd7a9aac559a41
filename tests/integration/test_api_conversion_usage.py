"""POST /sms/converted and POST /usage/bycountry against the real daemon and simulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import wait_submits

pytestmark = pytest.mark.integration

SMS = {"from": "MITTO SMS", "text": "Your code is 1234"}
ACCOUNT = "Starfleet Academy"


def converted(gateway: GatewayProcess, message_id: str):
    return gateway.request("POST", "/sms/converted", {"messageId": message_id})


def conversions_metric(gateway: GatewayProcess) -> float:
    text = gateway.get("/metrics").body.decode()
    match = re.search(r"^smpp_gateway_conversions_total (\S+)$", text, re.MULTILINE)
    assert match is not None
    return float(match.group(1))


def test_conversion_known_unknown_and_rate_limited(
    sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway(sim.port, http={"conversion_burst": 4, "conversion_rate": 0.01})
    message_id = gateway.send(**SMS, to="491725551234")["id"]
    first = converted(gateway, message_id)
    assert (first.status, first.json()) == (200, "OK")
    assert converted(gateway, message_id).status == 200  # a repeat keeps the first time
    assert conversions_metric(gateway) == 1.0
    unknown_id = "8d19cf53-a264-4cc6-800c-95600aeb9141"
    unknown = converted(gateway, unknown_id)
    assert unknown.status == 404
    assert unknown.headers["Content-Type"] == "application/json"
    assert unknown.json() == f'No convertible message found for id "{unknown_id}"'
    missing = gateway.request("POST", "/sms/converted", {})
    assert missing.status == 400 and "messageId" in missing.json()
    limited = converted(gateway, message_id)  # the fifth within the burst of 4
    assert (limited.status, limited.json()) == (429, "Too many requests")
    assert int(limited.headers["Retry-After"]) >= 1


def test_usage_by_country_and_its_errors(
    sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway(sim.port, http={"account_name": ACCOUNT, "conversion_tracking": False})
    to = ["491725551234", "+4915112345678", "359888123456", "12025550123", "12ab"]
    body = gateway.request("POST", "/smsbulk", {**SMS, "to": to}).json()
    wait_submits(sim, 4)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)

    def usage(start: str, end: str, account: str = ACCOUNT):
        request = {"startDate": start, "endDate": end, "accountName": account}
        return gateway.request("POST", "/usage/bycountry", request)

    expected = [
        {"country": "BGR", "messagesCount": "1", "cost": None},
        {"country": "DEU", "messagesCount": "2", "cost": None},
        {"country": "USA", "messagesCount": "1", "cost": None},
    ]
    # submit results are recorded asynchronously: wait until the store has all four
    wait_for(lambda: usage(str(today), str(today)).json() == expected, what="usage rows")
    assert usage(yesterday.strftime("%Y%m%d"), today.strftime("%Y%m%d")).json() == expected
    assert usage("2020-01-01", "2020-01-31").json() == []

    too_long = usage(str(today - timedelta(days=31)), str(today))
    assert (too_long.status, too_long.json()) == (
        400,
        {"error": "Maximum queryable period is 31 days"},
    )
    bad_date = usage("2020-02-30", "2020-03-01")
    assert bad_date.status == 400 and "startDate" in bad_date.json()["error"]
    assert usage("15.02.2020", "2020-02-28").status == 400
    wrong = usage(str(today), str(today), account="Another Account")
    assert wrong.status == 403 and wrong.json()["field"] == "accountName"

    disabled = converted(gateway, body["messages"][0]["id"])
    assert disabled.status == 400
    assert disabled.json() == "Conversion rate tracking is not enabled for this customer account"

"""Hostile request bodies and query strings against the real daemon (issue 11, items 3-5).

Each is a caller's mistake: a 4xx (or a responseCode 2-8) naming what is wrong, never a
5xx, never a traceback in the log, and nothing reaches the simulator. Every test ends with
one valid control send and counts submit_sm at the simulator: exactly that one arrived.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest

from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from tests.rawhttp import raw_request

pytestmark = pytest.mark.integration

LIMIT = 1_048_576  # http.max_body_bytes, the default
BASE = {"from": "Shop", "to": "41791234567", "text": "hello"}
JSON = {"X-Mitto-API-Key": API_KEY, "Content-Type": "application/json"}
BODY_ENDPOINTS = ("/sms", "/smsbulk", "/sms/converted", "/usage/bycountry")


@pytest.fixture
def gateway(sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway(sim.port, http={"conversion_tracking": True})


def only_the_control_send_arrives(gateway: GatewayProcess, sim: SimulatorProcess) -> None:
    """Nothing refused was sent: one valid send afterwards is the only submit_sm."""
    assert gateway.send(**BASE)["responseCode"] == 0
    stats = sim.wait_for(lambda s: s["submit_sm"] >= 1)
    assert stats["submit_sm"] == 1, stats
    log = gateway.log()
    assert "Traceback" not in log and "RecursionError" not in log


def over_the_limit_bodies(path: str) -> dict[str, bytes]:
    """A 1.5 MB body, and one that is valid JSON only in its first MiB."""
    payload = {**BASE, "text": "x" * 1_500_000}
    if path == "/smsbulk":
        payload["to"] = ["41791234567"]
    valid = json.dumps({**payload, "text": "valid prefix"}).encode()
    return {
        "1.5 MB": json.dumps(payload).encode(),
        "valid first MiB": valid + b" " * (LIMIT - len(valid)) + b"trailing garbage" * 1000,
    }


@pytest.mark.parametrize("path", ["/sms", "/smsbulk"])
def test_bodies_over_the_limit_are_413_whatever_the_framing(gateway, sim, path):
    for name, body in over_the_limit_bodies(path).items():
        for chunked in (True, False):
            answer = raw_request(gateway.port, "POST", path, body, headers=JSON, chunked=chunked)
            assert answer.status == 413, (name, chunked, answer)
            assert answer.json()["error"] == f"request body larger than {LIMIT} bytes"
    # at the limit exactly, chunked, the body is read whole and sent
    body = json.dumps({**BASE, "to": ["41791234567"]} if path == "/smsbulk" else BASE).encode()
    exactly = body + b" " * (LIMIT - len(body))
    answer = raw_request(gateway.port, "POST", path, exactly, headers=JSON, chunked=True)
    assert answer.status == 200 and answer.json()["responseCode"] == 0, answer
    stats = sim.wait_for(lambda s: s["submit_sm"] >= 1)
    assert stats["submit_sm"] == 1, stats


def test_broken_chunked_framing_is_a_4xx(gateway, sim):
    head = {**JSON, "Transfer-Encoding": "chunked"}
    for framing in (b"zz\r\n{}\r\n0\r\n\r\n", b"2\r\n{}XX0\r\n\r\n"):
        answer = raw_request(gateway.port, "POST", "/sms", framing, headers=head)
        assert 400 <= answer.status < 500, answer
    only_the_control_send_arrives(gateway, sim)


def test_deep_nesting_is_400_on_every_body_endpoint(gateway, sim):
    nested = b"[" * 100_000
    for path, chunked in itertools.product(BODY_ENDPOINTS, (False, True)):
        for extra in ({}, {"Idempotency-Key": "deep-1"}):
            headers = {**JSON, **extra}
            answer = raw_request(
                gateway.port, "POST", path, nested, headers=headers, chunked=chunked
            )
            assert answer.status == 400, (path, chunked, extra, answer)
            assert "nested deeper than" in answer.body.decode(), answer
    only_the_control_send_arrives(gateway, sim)


SEND_FIELDS = ("reference", "from", "to", "text", "callback", "type", "udh", "validity")


def surrogate_body(field: str) -> bytes:
    """The body with "\\ud800" (escaped, valid JSON) as the field's value."""
    return json.dumps({**BASE, field: "a\ud800b"}).encode()


@pytest.mark.parametrize("path", ["/sms", "/smsbulk"])
def test_a_lone_surrogate_in_any_field_is_400_naming_it(gateway, sim, path):
    fields = (*SEND_FIELDS, "deliveryStatusesToNotify", "unknownField")
    for field in fields:
        for extra in ({}, {"Idempotency-Key": f"sur-{field}"}):
            body = surrogate_body(field)
            answer = raw_request(gateway.port, "POST", path, body, headers={**JSON, **extra})
            assert answer.status == 400, (field, answer)
            assert answer.json()["field"] == field and "surrogate" in answer.json()["error"]
    bulk_item = json.dumps({**BASE, "to": ["41791234567", "\udc00"]}).encode()
    answer = raw_request(gateway.port, "POST", path, bulk_item, headers=JSON)
    assert answer.status == 400 and answer.json()["field"] == "to", answer
    only_the_control_send_arrives(gateway, sim)


def test_a_lone_surrogate_elsewhere_is_400_naming_the_field(gateway, sim):
    converted = raw_request(
        gateway.port, "POST", "/sms/converted", b'{"messageId": "\\ud800"}', headers=JSON
    )
    assert converted.status == 400 and converted.json().startswith("messageId:"), converted
    for field in ("accountName", "startDate"):
        body = {"accountName": "a", "startDate": "2026-01-01", "endDate": "2026-01-02"}
        raw = json.dumps({**body, field: "\ud800"}).encode()
        answer = raw_request(gateway.port, "POST", "/usage/bycountry", raw, headers=JSON)
        assert answer.status == 400 and answer.json()["field"] == field, answer
    only_the_control_send_arrives(gateway, sim)


def test_invalid_escapes_in_the_query_or_a_form_are_400_naming_the_field(gateway, sim):
    key = {"X-Mitto-API-Key": API_KEY}
    form = {**key, "Content-Type": "application/x-www-form-urlencoded"}
    for escape in ("%ZZ", "%ED%A0%80", "%FF", "%C3", "50%"):
        query = f"from=Shop&to=41791234567&text=a{escape}b"
        got = raw_request(gateway.port, "GET", f"/sms?{query}", headers=key)
        assert got.status == 400 and got.json()["field"] == "text", (escape, got)
        posted = raw_request(gateway.port, "POST", "/sms", query.encode(), headers=form)
        assert posted.status == 400 and posted.json()["field"] == "text", (escape, posted)
        sender = raw_request(
            gateway.port, "GET", f"/sms?to=41791234567&text=x&from={escape}", headers=key
        )
        assert sender.status == 400 and sender.json()["field"] == "from", (escape, sender)
    only_the_control_send_arrives(gateway, sim)

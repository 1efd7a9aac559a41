"""What callers may send: size, ranges, types and unknown fields, against the real daemon."""

from __future__ import annotations

import json

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.waiting import wait_for

BASE = {"from": "Shop", "to": "41791234567"}


@pytest.fixture
def limited(sim, start_gateway) -> GatewayProcess:
    return start_gateway(sim.port, http={"max_message_parts": 3, "max_body_bytes": 4096})


def test_text_beyond_the_part_limit_is_refused_naming_the_field(limited, sim):
    ok = limited.send(**BASE, text="a" * 153 * 3)
    assert ok["messageParts"] == 3
    refused = limited.request("POST", "/sms", {**BASE, "text": "a" * (153 * 3 + 1)})
    assert refused.status == 400
    assert refused.json()["field"] == "text" and "4 SMS parts" in refused.json()["error"]
    sim.wait_for(lambda s: s["submit_sm"] == 3)


def test_a_body_over_the_limit_is_413(limited):
    response = limited.request("POST", "/sms", {**BASE, "text": "x" * 5000})
    assert response.status == 413 and "4096" in response.json()["error"]


# Each list of cases runs against one daemon (a daemon per case cost a second of CPU each).
OUT_OF_RANGE = [
    ("validity", 0),
    ("validity", 20161),
    ("pid", 256),
    ("pid", -1),
    ("validity", "soon"),
]
WRONG_TYPES = [("text", ["a"]), ("to", {"n": 1}), ("from", [1]), ("flash", "maybe"), ("test", [])]


def test_numeric_fields_out_of_range_are_400_naming_the_field(limited):
    for field, value in OUT_OF_RANGE:
        response = limited.request("POST", "/sms", {**BASE, "text": "x", field: value})
        assert response.status == 400 and response.json()["field"] == field, (field, value)


def test_wrong_json_types_are_400_naming_the_field(limited):
    for field, value in WRONG_TYPES:
        response = limited.request("POST", "/sms", {**BASE, "text": "x", field: value})
        assert response.status == 400 and response.json()["field"] == field, (field, value)


def test_unknown_fields_are_ignored_and_logged_once_per_key(limited, sim):
    for _ in range(3):
        sent = limited.send(**BASE, text="x", encoding="utf8", priority=1)
        assert sent["responseCode"] == 0
    sim.wait_for(lambda s: s["submit_sm"] == 3)

    def unknown_lines() -> list[dict]:
        entries = [json.loads(line) for line in limited.log().splitlines() if line.startswith("{")]
        return [e for e in entries if "unknown request field" in e["event"]]

    lines = wait_for(lambda: len(unknown_lines()) == 2 and unknown_lines(), what="two log lines")
    assert sorted(line["event"].split("'")[1] for line in lines) == ["encoding", "priority"]
    assert all(line["api_key_id"] and line["logger"] == "gateway.http" for line in lines)


def test_log_lines_are_json_and_the_access_log_leaves_out_query_and_text(sim, start_gateway):
    gateway = start_gateway(sim.port, log={"access_log": True})
    query = "from=Shop&to=41791234567&text=confidential%20words"
    assert gateway.request("GET", f"/sms?{query}").json()["responseCode"] == 0
    access = wait_for(
        lambda: [e for e in map(json.loads, gateway.log().splitlines()) if e.get("path") == "/sms"],
        what="access log line for /sms",
    )
    assert access[0]["method"] == "GET" and access[0]["status"] == 200
    assert access[0]["client"] == "default"  # the global key's client (docs/clients.md)
    assert access[0]["logger"] == "gunicorn.access" and access[0]["duration_ms"] >= 0
    entries = [json.loads(line) for line in gateway.log().splitlines()]  # every line is JSON
    assert all({"ts", "level", "logger", "event"} <= set(entry) for entry in entries)
    assert "confidential" not in gateway.log() and "41791234567" not in gateway.log()


def test_a_form_encoded_body_sends_like_json(limited, sim):
    form = b"from=Shop&to=41791234567&text=hello+form"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = limited.request("POST", "/sms", raw=form, headers=headers)
    assert response.status == 200 and response.json()["responseCode"] == 0
    assert response.json()["textLength"] == len("hello form")
    sim.wait_for(lambda s: s["submit_sm"] == 1)


def test_a_nul_character_is_400_naming_the_field(limited):
    for field in ("reference", "text", "from"):
        body = {**BASE, "text": "x", "reference": "r", field: "a\x00b"}
        response = limited.request("POST", "/sms", body)
        assert response.status == 400 and response.json()["field"] == field, field
        assert "U+0000" in response.json()["error"]

"""POST /sms end to end: real gunicorn, real SMPP session, real simulator, real SQLite."""

from __future__ import annotations

import re
import uuid

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import wait_submits

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")


def gsm_hex(text: str) -> str:
    return text.encode("gsm03.38").hex()


def test_gsm_send_reaches_the_smsc_with_every_field_right(
    gateway: GatewayProcess, sim: SimulatorProcess
):
    body = gateway.send(**{"from": "MITTO SMS", "to": "+41791234567", "text": "Hello, World!"})
    assert uuid.UUID(body["id"])
    assert TIMESTAMP.match(body["timestamp"])
    assert body["to"] == "+41791234567"
    assert (body["responseCode"], body["responseText"]) == (0, "SMS sent")
    assert (body["textLength"], body["messageParts"]) == (13, 1)
    assert "test" not in body
    (submit,) = wait_submits(sim, 1)
    assert (submit["source_addr"], submit["source_addr_ton"], submit["source_addr_npi"]) == (
        "MITTO SMS",
        5,
        0,
    )
    assert (submit["destination_addr"], submit["dest_addr_ton"], submit["dest_addr_npi"]) == (
        "41791234567",
        1,
        1,
    )
    assert (submit["data_coding"], submit["esm_class"], submit["protocol_id"]) == (0, 0, 0)
    assert submit["registered_delivery"] == 1
    assert submit["validity_period"] == "000002000000000R"  # the provider's 2,880 min default
    assert submit["short_message"] == gsm_hex("Hello, World!")


def test_numeric_sender_and_extension_characters(gateway: GatewayProcess, sim: SimulatorProcess):
    text = "Price: 10€ {a} [b] ~ ^ |"
    body = gateway.send(**{"from": "+41790000001", "to": "0041791234567", "text": text})
    assert body["textLength"] == len(text)
    (submit,) = wait_submits(sim, 1)
    assert (submit["source_addr"], submit["source_addr_ton"], submit["source_addr_npi"]) == (
        "41790000001",
        1,
        1,
    )
    assert submit["destination_addr"] == "41791234567"
    payload = bytes.fromhex(submit["short_message"])
    assert b"\x1be" in payload  # € is ESC 0x65
    assert b"\x1b<" in payload and b"\x1b>" in payload  # [ and ]
    assert payload.decode("gsm03.38") == text


def test_unicode_emoji_send_is_ucs2_with_a_surrogate_pair(
    gateway: GatewayProcess, sim: SimulatorProcess
):
    body = gateway.send(**{"from": "Shop", "to": "41791234567", "text": "Hi 😀", "type": "auto"})
    assert body["textLength"] == 5  # UTF-16 code units, as the provider counts
    (submit,) = wait_submits(sim, 1)
    assert submit["data_coding"] == 8
    assert submit["short_message"] == "Hi 😀".encode("utf-16-be").hex()
    assert "d83dde00" in submit["short_message"]


def test_long_message_goes_out_as_three_concatenated_parts(
    gateway: GatewayProcess, sim: SimulatorProcess
):
    text = ("A" * 153) + ("B" * 153) + ("C" * 10)
    body = gateway.send(**{"from": "Shop", "to": "41791234567", "text": text})
    assert (body["messageParts"], body["textLength"]) == (3, 316)
    parts = wait_submits(sim, 3)
    udhs = [bytes.fromhex(p["udh"]) for p in parts]
    assert {p["esm_class"] for p in parts} == {0x40}
    assert len({u[3] for u in udhs}) == 1  # one reference for all parts
    assert sorted((u[:3], u[4], u[5]) for u in udhs) == [(b"\x05\x00\x03", 3, n) for n in (1, 2, 3)]
    joined = b"".join(
        bytes.fromhex(p["short_message"])[6:]
        for p in sorted(parts, key=lambda p: bytes.fromhex(p["udh"])[5])
    )
    assert joined.decode("gsm03.38") == text


def test_flash_validity_pid_and_custom_udh(gateway: GatewayProcess, sim: SimulatorProcess):
    gateway.send(**{"from": "Shop", "to": "41791234567", "text": "flash", "flash": True})
    gateway.send(**{"from": "Shop", "to": "41791234568", "text": "valid", "validity": 90})
    gateway.send(**{"from": "Shop", "to": "41791234569", "text": "pid", "pid": 65})
    gateway.send(**{"from": "Shop", "to": "41791234570", "text": "port", "udh": "06050415811581"})
    by_dest = {s["destination_addr"]: s for s in wait_submits(sim, 4)}
    assert by_dest["41791234567"]["data_coding"] == 0x10  # message class 0
    assert by_dest["41791234568"]["validity_period"] == "000000013000000R"
    assert by_dest["41791234569"]["protocol_id"] == 65
    port = by_dest["41791234570"]
    assert port["esm_class"] == 0x40
    assert port["udh"] == "06050415811581"
    assert port["short_message"] == "06050415811581" + gsm_hex("port")


def test_test_mode_validates_and_sends_nothing(gateway: GatewayProcess, sim: SimulatorProcess):
    body = gateway.send(**{"from": "Shop", "to": "41791234567", "text": "dry run", "test": True})
    assert body["test"] is True and "id" not in body
    assert (body["responseCode"], body["messageParts"]) == (0, 1)
    gateway.send(**{"from": "Shop", "to": "41791234999", "text": "real"})
    (only,) = wait_submits(sim, 1)
    assert only["destination_addr"] == "41791234999"


def test_query_string_send_and_status_lookup(gateway: GatewayProcess, sim: SimulatorProcess):
    response = gateway.request(
        "GET", "/sms?from=Shop&to=41791234567&text=via%20query&type=GSM&reference=r-1"
    )
    assert response.status == 200, response.body
    message_id = response.json()["id"]
    (submit,) = wait_submits(sim, 1)
    status = wait_for(
        lambda: (r := gateway.get(f"/sms/{message_id}").json())["state"] == "sent" and r,
        what="message state sent",
    )
    assert status["status"] == "SENT"
    assert status["smscMessageIds"] == [submit["message_id"]]
    assert status["reference"] == "r-1"
    assert [h["state"] for h in status["history"]][:2] == ["accepted", "submitting"]


@pytest.mark.parametrize(
    ("fields", "code", "text"),
    [
        ({"type": "Klingon"}, 2, "Invalid type"),
        ({"text": ""}, 3, "Empty message"),
        ({"text": "snow ☃", "type": "GSM"}, 4, "Message text is invalid"),
        ({"from": ""}, 5, "Empty sender"),
        ({"from": "ThisIsTooLongASender"}, 6, "Invalid sender"),
        ({"to": ""}, 7, "Empty receiver"),
        ({"to": "41-79-123"}, 8, "Invalid receiver"),
    ],
)
def test_validation_answers_the_providers_codes_in_http_200(
    gateway: GatewayProcess, fields, code, text
):
    body = {"from": "Shop", "to": "41791234567", "text": "hi", **fields}
    response = gateway.request("POST", "/sms", body)
    assert response.status == 200
    answer = response.json()
    assert (answer["responseCode"], answer["responseText"], answer["textLength"]) == (code, text, 0)
    assert "id" not in answer and answer["detail"]


def test_auth_malformed_json_and_size_limits(gateway: GatewayProcess):
    body = {"from": "Shop", "to": "41791234567", "text": "hi"}
    assert gateway.request("POST", "/sms", body, key=None).status == 401
    assert gateway.request("POST", "/sms", body, key="wrong").status == 401
    bearer = gateway.request(
        "POST", "/sms", body, key=None, headers={"Authorization": "Bearer test-key-0123456789"}
    )
    assert bearer.status == 200 and bearer.json()["responseCode"] == 0
    bad = gateway.request("POST", "/sms", raw=b'{"from": "Shop",')
    assert bad.status == 400 and "malformed JSON" in bad.json()["error"]
    huge = gateway.request("POST", "/sms", raw=b'{"text": "' + b"x" * 2_000_000 + b'"}')
    assert huge.status == 413
    invalid = gateway.request("POST", "/sms", {**body, "validity": "soon"})
    assert invalid.status == 400 and invalid.json()["field"] == "validity"
    assert gateway.get("/healthz", key=None).status == 200


def test_validation_status_can_be_http_400(sim: SimulatorProcess, start_gateway):
    gateway = start_gateway(sim.port, http={"validation_http_status": 400})
    response = gateway.request("POST", "/sms", {"from": "Shop", "to": "", "text": "hi"})
    assert response.status == 400 and response.json()["responseCode"] == 7


def test_callback_host_must_be_allowed(gateway: GatewayProcess):
    body = {"from": "Shop", "to": "41791234567", "text": "hi"}
    refused = gateway.request("POST", "/sms", {**body, "callback": "http://169.254.169.254/x"})
    assert refused.status == 400 and refused.json()["field"] == "callback"
    allowed = gateway.request("POST", "/sms", {**body, "callback": "http://127.0.0.1:9/cb"})
    assert allowed.json()["responseCode"] == 0

"""Answer formats (.json/.xml suffix, ?format=), GET /sms with a query string, and the
served OpenAPI document, against the real daemon and simulator."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from tests.integration.helpers import wait_submits

pytestmark = pytest.mark.integration

SMS = {"from": "MITTO SMS", "to": "491725551234", "text": "Hello, World!"}
OPENAPI = Path(__file__).resolve().parents[2] / "gateway" / "http" / "openapi.json"


def as_json_like(element: ET.Element) -> Any:
    """An XML answer read back into the JSON shape (leaves as text)."""
    if len(element) == 0:
        return element.text or ""
    if element.tag == "messages":
        return [as_json_like(child) for child in element]
    return {child.tag: as_json_like(child) for child in element}


def stringified(value: Any) -> Any:
    """A JSON answer with leaves as XML writes them."""
    if isinstance(value, dict):
        return {k: stringified(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [stringified(v) for v in value]
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def parse_xml(body: bytes) -> ET.Element:
    root = ET.fromstring(body)
    assert root.tag == "response"
    return root


def without_ids_and_times(payload: Any) -> Any:
    if isinstance(payload, dict):
        return {
            k: without_ids_and_times(v) for k, v in payload.items() if k not in ("id", "timestamp")
        }
    if isinstance(payload, list):
        return [without_ids_and_times(v) for v in payload]
    return payload


def test_xml_answers_mirror_the_json_ones(gateway: GatewayProcess, sim: SimulatorProcess) -> None:
    as_json = gateway.request("POST", "/sms.json", SMS)
    assert as_json.headers["Content-Type"] == "application/json"
    for path in ("/sms.xml", "/sms?format=xml"):
        response = gateway.request("POST", path, SMS)
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/xml; charset=utf-8"
        root = parse_xml(response.body)
        assert [child.tag for child in root] == list(as_json.json())
        got = as_json_like(root)
        assert without_ids_and_times(got) == without_ids_and_times(stringified(as_json.json()))
        assert gateway.get(f"/sms/{got['id']}").status == 200

    bulk = {**SMS, "to": ["491725551234", "12ab"]}
    bulk_json = gateway.request("POST", "/smsbulk.json", bulk).json()
    bulk_xml = as_json_like(parse_xml(gateway.request("POST", "/smsbulk.xml", bulk).body))
    assert without_ids_and_times(bulk_xml) == without_ids_and_times(stringified(bulk_json))
    assert bulk_xml["messages"][1]["responseCode"] == "8"

    refused = parse_xml(gateway.request("POST", "/sms.xml", {**SMS, "from": "x"}).body)
    assert refused.findtext("responseCode") == "6"
    unauthorized = gateway.request("POST", "/smsbulk.xml", bulk, key=None)
    assert unauthorized.status == 401
    assert parse_xml(unauthorized.body).findtext("error") == "Invalid or no API Key specified"
    bad_format = gateway.request("POST", "/sms?format=csv", SMS)
    assert bad_format.status == 400 and bad_format.json()["field"] == "format"
    wait_submits(sim, 5)  # /sms.json, /sms.xml, ?format=xml and the bulk's two valid ones


def test_get_sms_with_every_parameter_in_the_query_string_sends(
    gateway: GatewayProcess, sim: SimulatorProcess
) -> None:
    query = {
        "from": "MITTO SMS",
        "to": "+41791234567",
        "text": "Héllo from the query",
        "type": "Unicode",
        "reference": "legacy client",
        "validity": "60",
        "pid": "0",
        "flash": "1",
    }
    response = gateway.get("/sms?" + urlencode(query))
    body = response.json()
    assert (response.status, body["responseCode"], body["to"]) == (200, 0, "+41791234567")
    (submit,) = wait_submits(sim, 1)
    assert submit["destination_addr"] == "41791234567"
    assert submit["data_coding"] == 0x18  # UCS-2 with the flash message class
    assert bytes.fromhex(submit["short_message"]).decode("utf-16-be") == query["text"]
    assert gateway.get(f"/sms/{body['id']}").json()["reference"] == "legacy client"


def test_the_openapi_document_is_served_without_a_key(gateway: GatewayProcess) -> None:
    response = gateway.get("/openapi.json", key=None)
    assert response.status == 200
    assert response.json() == json.loads(OPENAPI.read_text())

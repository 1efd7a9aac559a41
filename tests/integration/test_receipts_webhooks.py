"""Receipts and inbound messages become webhooks: real daemon, simulator and receiver."""

from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import receivers

ISO7 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$")
PARAMETERS = {
    "msgid",
    "sendtime",
    "status",
    "receiver",
    "mcc",
    "mnc",
    "cost",
    "errorcode",
    "sendtimestamp",
    "reference",
}


@pytest.fixture
def receiver():
    with WebhookReceiver() as server:
        yield server


def callbacks(receiver: WebhookReceiver) -> list[dict[str, str]]:
    """Every GET callback's parameters, in arrival order."""
    found = []
    for request in receiver.requests:
        if request.method == "GET" and "msgid" in request.query:
            found.append(dict(request.query))
    return found


def wait_callback(receiver, msgid: str, status: str, timeout: float = 15) -> dict[str, str]:
    return wait_for(
        lambda: next(
            (c for c in callbacks(receiver) if c["msgid"] == msgid and c["status"] == status), None
        ),
        timeout=timeout,
        what=f"{status} callback for {msgid}",
    )


def start(start_gateway, sim, receiver, **webhooks) -> GatewayProcess:
    return start_gateway(
        sim.port,
        webhooks={
            "default_callback_url": receiver.url("/cb"),
            "retry_min_delay": 0.1,
            "retry_max_delay": 0.5,
            **webhooks,
        },
    )


@pytest.fixture
def dlr_sim():
    with SimulatorProcess(receipt_delay=0.05) as process:
        yield process


@pytest.mark.parametrize(
    ("stat", "status", "errorcode"),
    [
        ("DELIVRD", "DELIVERED", "0"),
        ("UNDELIV", "UNDELIVERED", "1"),
        ("EXPIRED", "EXPIRED", "0"),
        ("REJECTD", "FAILED", "9"),
    ],
)
def test_receipt_becomes_the_providers_callback(
    dlr_sim, start_gateway, receiver, stat, status, errorcode
):
    dlr_sim.config(receipt_states=f"{stat}=1")
    gateway = start(start_gateway, dlr_sim, receiver)
    sent = gateway.send(
        **{"from": "Shop", "to": "+41791234567", "text": "hello", "reference": "campaign 7"}
    )
    final = wait_callback(receiver, sent["id"], status)
    assert set(final) == PARAMETERS
    assert final["receiver"] == "41791234567"
    assert final["reference"] == "campaign 7"
    assert final["errorcode"] == errorcode
    assert ISO7.match(final["sendtime"])
    assert abs(int(final["sendtimestamp"]) - time.time()) < 60
    assert (final["mcc"], final["mnc"], final["cost"]) == ("", "", "")
    sent_callback = wait_callback(receiver, sent["id"], "SENT")
    assert sent_callback["reference"] == "campaign 7"
    view = gateway.get(f"/sms/{sent['id']}").json()
    assert view["status"] == status
    assert [h["state"] for h in view["history"]][-2:] == ["sent", status.lower()]


@pytest.mark.parametrize(("id_format", "receipt_id_format"), [("dec", "hex"), ("hex", "dec")])
def test_hex_and_decimal_receipt_ids_correlate_without_settings(
    start_gateway, receiver, id_format, receipt_id_format
):
    with SimulatorProcess(
        receipt_delay=0.05, id_format=id_format, receipt_id_format=receipt_id_format
    ) as sim:
        gateway = start(start_gateway, sim, receiver)
        ids = [gateway.send(**{"from": "Shop", "to": n, "text": "x"})["id"] for n in receivers(5)]
        for message_id in ids:
            wait_callback(receiver, message_id, "DELIVERED")


def test_receipts_before_submit_sm_resp_all_correlate(start_gateway, receiver):
    with SimulatorProcess(receipt_delay=0, receipt_before_resp=True) as sim:
        gateway = start(start_gateway, sim, receiver)
        ids = [
            gateway.send(**{"from": "Shop", "to": n, "text": "race"})["id"] for n in receivers(10)
        ]
        for message_id in ids:
            wait_callback(receiver, message_id, "DELIVERED")
        assert sim.stats()["receipts_sent"] == 10


def test_three_part_message_gets_one_delivered_callback(dlr_sim, start_gateway, receiver):
    gateway = start(start_gateway, dlr_sim, receiver, notify_statuses=["DELIVERED", "UNDELIVERED"])
    long_id = gateway.send(**{"from": "Shop", "to": "41791234567", "text": "x" * 400})["id"]
    wait_callback(receiver, long_id, "DELIVERED")
    marker = gateway.send(**{"from": "Shop", "to": "41791234568", "text": "later"})["id"]
    wait_callback(receiver, marker, "DELIVERED")  # everything for the first has arrived
    assert dlr_sim.stats()["receipts_sent"] == 4
    statuses = [c["status"] for c in callbacks(receiver) if c["msgid"] == long_id]
    assert statuses == ["DELIVERED"]


def test_delivery_statuses_to_notify_filters(dlr_sim, start_gateway, receiver):
    gateway = start(start_gateway, dlr_sim, receiver)
    quiet = gateway.send(
        **{
            "from": "Shop",
            "to": "41791234567",
            "text": "a",
            "deliveryStatusesToNotify": "UNDELIVERED,FAILED",
        }
    )["id"]
    loud = gateway.send(
        **{
            "from": "Shop",
            "to": "41791234568",
            "text": "b",
            "deliveryStatusesToNotify": "DELIVERED",
        }
    )["id"]
    wait_callback(receiver, loud, "DELIVERED")
    wait_for(lambda: gateway.get(f"/sms/{quiet}").json()["status"] == "DELIVERED")
    assert [c["status"] for c in callbacks(receiver) if c["msgid"] == loud] == ["DELIVERED"]
    assert not [c for c in callbacks(receiver) if c["msgid"] == quiet]


def test_post_body_template(dlr_sim, start_gateway, receiver):
    template = (
        '{"Id":"~msgid~","MccMnc":"~mcc~~mnc~","status":"~status~",'
        '"receiver":"~receiver~","errorcode":"~errorcode~","reference":"~reference~",'
        '"sendtime":"~sendtime~","sendtimestamp":"~sendtimestamp~"}'
    )
    gateway = start(
        start_gateway,
        dlr_sim,
        receiver,
        method="POST",
        body_template=template,
        notify_statuses=["DELIVERED"],
    )
    sent = gateway.send(
        **{"from": "Shop", "to": "41791234567", "text": "a", "reference": 'quote " and \\ slash'}
    )
    request = wait_for(lambda: next((r for r in receiver.requests if r.method == "POST"), None))
    body = json.loads(request.body)
    assert body["Id"] == sent["id"] and body["status"] == "DELIVERED"
    assert body["reference"] == 'quote " and \\ slash'
    assert request.header("Content-Type") == "application/json"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_per_message_url_template(dlr_sim, start_gateway, receiver, method):
    gateway = start(start_gateway, dlr_sim, receiver, method=method, notify_statuses=["DELIVERED"])
    template = receiver.url("/t") + "?id=<msgid>&st=$status$&to=~receiver~&ref=<reference>"
    sent = gateway.send(
        **{"from": "Shop", "to": "41791234567", "text": "a", "reference": "a&b=c"},
        callback=template,
    )
    request = wait_for(lambda: next((r for r in receiver.requests if r.path == "/t"), None))
    assert request.method == method
    assert request.query == {
        "id": sent["id"],
        "st": "DELIVERED",
        "to": "41791234567",
        "ref": "a&b=c",
    }
    if method == "POST":  # no body template: the parameters as JSON
        body = json.loads(request.body)
        assert body["msgid"] == sent["id"] and body["status"] == "DELIVERED"


def test_receiver_down_then_up_gets_every_callback_exactly_once(dlr_sim, start_gateway, receiver):
    gateway = start(start_gateway, dlr_sim, receiver, notify_statuses=["DELIVERED"])
    receiver.down()
    ids = [gateway.send(**{"from": "Shop", "to": n, "text": "x"})["id"] for n in receivers(20)]
    wait_for(
        lambda: all(gateway.get(f"/sms/{i}").json()["status"] == "DELIVERED" for i in ids),
        timeout=20,
        what="all delivered while receiver down",
    )
    receiver.up()
    wait_for(lambda: {c["msgid"] for c in callbacks(receiver)} >= set(ids), timeout=20)
    per_id = Counter(r.webhook_id for r in receiver.requests)
    assert max(per_id.values()) == 1
    assert Counter(c["msgid"] for c in callbacks(receiver)) == Counter(ids)


def test_kill_9_between_receipt_and_callback_still_delivers(dlr_sim, start_gateway, receiver):
    # webhooks.timeout 2 s: the outbox lease is max(30 s, a multiple of it); see below
    gateway = start(start_gateway, dlr_sim, receiver, notify_statuses=["DELIVERED"], timeout=2.0)
    receiver.down()
    ids = [gateway.send(**{"from": "Shop", "to": n, "text": "x"})["id"] for n in receivers(5)]
    wait_for(
        lambda: all(gateway.get(f"/sms/{i}").json()["status"] == "DELIVERED" for i in ids),
        timeout=20,
    )
    gateway.kill()
    assert not callbacks(receiver)
    receiver.up()
    start_gateway(
        dlr_sim.port,
        store={"path": str(gateway.db_path)},
        webhooks={"default_callback_url": receiver.url("/cb")},
    )
    # SQLite voids the dead daemon's outbox leases when the dispatcher starts; PostgreSQL
    # (shared by daemons) waits for a lease the dead one held to pass (30 s here).
    wait_for(
        lambda: {c["msgid"] for c in callbacks(receiver) if c["status"] == "DELIVERED"} >= set(ids),
        timeout=45,
    )


def test_inbound_two_part_ucs2_message_arrives_as_one_webhook(sim, start_gateway, receiver):
    gateway = start_gateway(
        sim.port, webhooks={"inbound_url": receiver.url("/mo"), "method": "POST"}
    )
    text = "Привет из мобильной сети! " * 4  # > 70 UCS-2 units: two parts
    assert (
        sim.mo(source="41790000001", destination="41790000002", text=text, data_coding=8)["sent"]
        == 2
    )
    request = wait_for(lambda: next((r for r in receiver.requests if r.path == "/mo"), None))
    body = json.loads(request.body)
    assert body["content"] == text
    assert (body["sender"], body["receiver"], body["coding"]) == (
        "41790000001",
        "41790000002",
        "Unicode",
    )
    assert body["msgid"]
    sim.mo(source="41790000001", destination="41790000002", text="single GSM")
    wait_for(
        lambda: any(
            json.loads(r.body)["content"] == "single GSM"
            for r in receiver.requests
            if r.path == "/mo"
        )
    )
    assert gateway.get("/metrics").status == 200


def test_inbound_with_a_lost_part_is_posted_flagged_after_the_timeout(sim, start_gateway, receiver):
    start_gateway(
        sim.port,
        webhooks={
            "inbound_url": receiver.url("/mo"),
            "method": "POST",
            "mo_reassembly_timeout": 0.5,
        },
    )
    text = "".join(f"{i:03d} " for i in range(60))  # 240 GSM characters: two parts
    sent = sim.mo(source="41790000001", destination="41790000002", text=text, skip_parts=[2])
    assert sent["sent"] == 1
    request = wait_for(lambda: next((r for r in receiver.requests if r.path == "/mo"), None))
    body = json.loads(request.body)
    assert body["incomplete"] == "true"
    assert body["content"] == text[:153]

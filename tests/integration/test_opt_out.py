"""The opt-out list end to end (issue 14): an inbound STOP from a handset to one of our
numbers refuses sends from that number to that handset (responseCode 8, per receiver in
a bulk) until an operator removes the entry; the inbound webhook still fires."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits

HANDSET, OTHER, OURS = "447700900123", "447700900124", "12345"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def cli(gateway: GatewayProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMPP_GATEWAY_HTTP_API_KEYS": API_KEY}
    command = [sys.executable, "-m", "gateway.cli", "opt-out", *args]
    return subprocess.run(
        [*command, "--config", str(gateway.config_path)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_stop_refuses_sends_until_the_entry_is_removed(
    start_gateway, sim: SimulatorProcess, receiver: WebhookReceiver
) -> None:
    gateway = start_gateway(sim.port, webhooks={"inbound_url": receiver.url("/mo")})
    sim.mo(source=HANDSET, destination=OURS, text="  Stop ")
    (inbound,) = receiver.wait_for_count(1)  # it still fires, and committed with the entry
    assert HANDSET in inbound.target
    refused = gateway.request("POST", "/sms", {"from": OURS, "to": HANDSET, "text": "hi"}).json()
    assert refused["responseCode"] == 8 and "opted out" in refused["detail"]
    bulk = gateway.request(
        "POST", "/smsbulk", {"from": OURS, "to": [HANDSET, OTHER], "text": "hi"}
    ).json()
    assert [m.get("responseCode", 0) for m in bulk["messages"]] == [8, 0]
    other_sender = gateway.send(**{"from": "54321", "to": HANDSET, "text": "hi"})
    assert other_sender["responseCode"] == 0  # the list is per number written to
    wait_for(lambda: len(all_submits(sim)) >= 2, timeout=15, what="the allowed sends")

    listed = cli(gateway, "list")
    assert listed.returncode == 0 and f"{OURS}\t{HANDSET}" in listed.stdout
    assert "inbound 'Stop'" in listed.stdout
    assert cli(gateway, "remove", OURS, f"+{HANDSET}").returncode == 0
    assert cli(gateway, "remove", OURS, HANDSET).returncode == 1  # gone already
    assert gateway.send(**{"from": OURS, "to": HANDSET, "text": "hi"})["responseCode"] == 0
    wait_for(lambda: len(all_submits(sim)) >= 3, timeout=15, what="the send after removal")
    sent = sorted((s["source_addr"], s["destination_addr"]) for s in all_submits(sim))
    assert sent == [(OURS, HANDSET), (OURS, OTHER), ("54321", HANDSET)]


def test_an_operator_adds_an_entry(start_gateway, sim: SimulatorProcess) -> None:
    gateway = start_gateway(sim.port)
    added = cli(gateway, "add", OURS, HANDSET, "--reason", "asked by phone")
    assert added.returncode == 0, added.stderr
    refused = gateway.request("POST", "/sms", {"from": OURS, "to": HANDSET, "text": "x"}).json()
    assert refused["responseCode"] == 8
    assert "admin: asked by phone" in cli(gateway, "list").stdout
    assert sim.stats()["submit_sm"] == 0

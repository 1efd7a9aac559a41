"""Operating the daemon: the status view, exact metrics after a scripted run, SIGTERM under load."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.testing.process import API_KEY
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import free_port, wait_for
from tests.integration.helpers import receivers


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def status_command(gateway) -> tuple[int, dict]:
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "status", "--config", str(gateway.config_path)],
        env={**os.environ, "SMPP_GATEWAY_HTTP_API_KEYS": API_KEY},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return result.returncode, json.loads(result.stdout) if result.stdout else {}


def test_status_shows_sessions_window_queue_and_outbox(sim, start_gateway):
    with WebhookReceiver() as receiver:
        receiver.down()
        gateway = start_gateway(
            sim.port,
            smpp={"window": 4},
            webhooks={"default_callback_url": receiver.url(), "retry_min_delay": 30},
        )
        assert gateway.get("/status", key=None).status == 401
        sim.pause()
        for number in receivers(10):
            gateway.send(**{"from": "Shop", "to": number, "text": "x"})
        sim.wait_for(lambda s: s["submit_sm"] == 4)
        # the engine publishes its sessions twice a second (gateway/rundir.py)
        wait_for(
            lambda: gateway.get("/status").json()["sessions"][0]["inflight"] == 4,
            what="the window full in /status",
        )
        code, paused = status_command(gateway)
        assert code == 0 and paused["ready"] is True
        assert [(s["name"], s["bound"], s["inflight"]) for s in paused["sessions"]] == [
            ("trx0", True, 4)
        ]
        assert paused["queue_depth"] == 10 and paused["outbox_depth"] == 0
        sim.resume()
        # the receiver is down: every SENT callback waits in the outbox
        # (each figure is its own read: wait until one answer shows the settled state)
        settled = wait_for(
            lambda: (
                (s := gateway.get("/status").json())["outbox_depth"] == 10
                and s["queue_depth"] == 0
                and s
            ),
            what="10 callbacks waiting, queue empty",
        )
        assert settled["messages_by_state"]["sent"] == 10


def test_status_command_exits_2_when_nothing_listens(sim, start_gateway):
    gateway = start_gateway(sim.port)
    assert gateway.stop() == 0
    code, _ = status_command(gateway)
    assert code == 2


def test_metrics_count_exactly_what_a_scripted_run_did(start_gateway):
    with SimulatorProcess(receipt_delay=0.05) as sim, WebhookReceiver() as receiver:
        gateway = start_gateway(
            sim.port,
            webhooks={"default_callback_url": receiver.url(), "notify_statuses": ["DELIVERED"]},
        )
        ids = [gateway.send(**{"from": "Shop", "to": n, "text": "x"})["id"] for n in receivers(3)]
        ids.append(gateway.send(**{"from": "Shop", "to": "41790000009", "text": "y" * 200})["id"])
        wait_for(lambda: len(receiver.requests) == 4, what="4 DELIVERED callbacks")
        assert sim.disconnect() == 1
        sim.wait_for(lambda s: s["bound_sessions"] == 1 and s["binds"] == 2)
        wait_for(lambda: gateway.get("/readyz").status == 200, what="rebound")
        found = wait_for(
            lambda: (
                (f := samples(gateway.get("/metrics").body.decode()))
                and f.get(("smpp_gateway_webhook_deliveries_total", (("outcome", "delivered"),)))
                == 4
                and f
            ),
            what="4 deliveries counted",
        )
    assert {i for i in ids} == {r.query["msgid"] for r in receiver.requests}
    exact = {
        ("smpp_gateway_messages_accepted_total", ()): 4,
        ("smpp_gateway_segments_submitted_total", ()): 5,
        ("smpp_gateway_receipts_total", (("state", "DELIVERED"),)): 5,
        ("smpp_gateway_message_state_changes_total", (("state", "DELIVERED"),)): 4,
        ("smpp_gateway_message_state_changes_total", (("state", "SENT"),)): 4,
        ("smpp_gateway_receipt_latency_seconds_count", ()): 4,
        ("smpp_gateway_session_binds_total", (("session", "trx0"),)): 2,
        ("smpp_gateway_webhook_deliveries_total", (("outcome", "delivered"),)): 4,
        ("smpp_gateway_webhook_outbox_depth", ()): 0,
        ("smpp_gateway_queue_depth_messages", ()): 0,
    }
    assert {key: found.get(key) for key in exact} == exact
    losses = [
        v for (name, _), v in found.items() if name == "smpp_gateway_session_link_losses_total"
    ]
    assert sum(losses) == 1


@pytest.mark.sqlite_only  # reads the SQLite file after the daemon exits
def test_sigterm_under_load_exits_0_and_every_accepted_message_is_sent_or_kept(
    start_gateway, tmp_path
):
    with SimulatorProcess(receipt_delay=-1, response_delay=0.02) as sim:
        gateway = start_gateway(sim.port, smpp={"stop_grace": 3.0})
        accepted: list[str] = []
        stop_sending = threading.Event()

        def client(offset: int) -> None:
            for number in receivers(200, base=4179_100_0000 + offset * 1000):
                if stop_sending.is_set():
                    return
                try:
                    response = gateway.request(
                        "POST", "/sms", {"from": "Shop", "to": number, "text": "x"}
                    )
                except OSError:
                    return
                if response.status == 200 and response.json().get("responseCode") == 0:
                    accepted.append(response.json()["id"])

        clients = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for thread in clients:
            thread.start()
        sim.wait_for(lambda s: s["submit_sm"] >= 50)
        started = time.monotonic()
        assert gateway.stop(timeout=30) == 0
        stopped_after = time.monotonic() - started
        stop_sending.set()
        for thread in clients:
            thread.join(timeout=30)
        assert stopped_after < 3.0 + 10, stopped_after  # stop_grace plus process teardown
        with sqlite3.connect(gateway.db_path) as db:
            states = dict(db.execute("SELECT id, state FROM messages").fetchall())
        assert set(accepted) <= set(states)
        assert set(states.values()) <= {"sent", "accepted"}, set(states.values())
        left = [i for i, state in states.items() if state == "accepted"]
        submitted = sim.stats()["submit_sm"]
        assert submitted >= len(states) - len(left)
        # the next start submits what was left
        start_gateway(sim.port, store={"path": str(gateway.db_path)})
        sim.wait_for(lambda s: s["submit_sm"] >= submitted + len(left), timeout=30)


def test_separate_metrics_listener_serves_the_scrape_without_a_key(sim, start_gateway):
    port = free_port()
    gateway = start_gateway(sim.port, http={"metrics_listen": f"127.0.0.1:{port}"})
    gateway.send(**{"from": "Shop", "to": "41791234567", "text": "x"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        scraped = samples(response.read().decode())
    assert scraped[("smpp_gateway_messages_accepted_total", ())] == 1


@pytest.mark.sqlite_only  # logging, not the store
def test_pdu_debug_logs_every_pdu_by_its_header_and_never_a_body(sim, start_gateway):
    gateway = start_gateway(sim.port, log={"pdu_debug": True})
    gateway.send(**{"from": "Shop", "to": "41791234567", "text": "secret words"})
    wait_for(lambda: "in submit_sm_resp" in gateway.log(), timeout=10, what="the resp logged")
    lines = [
        json.loads(line) for line in gateway.log().splitlines() if '"gateway.smpp.pdu"' in line
    ]
    events = [line["event"] for line in lines]
    assert any(e.startswith("out bind_transceiver seq=") for e in events), events
    assert any(e.startswith("out submit_sm seq=") for e in events), events
    assert any(e.startswith("in submit_sm_resp") and e.endswith("ESME_ROK") for e in events)
    assert all(line["level"] == "debug" and line["session"] == "trx0" for line in lines)
    assert "secret words" not in gateway.log() and "password" not in "".join(events)

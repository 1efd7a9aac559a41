"""Clients and their policy against a real daemon and simulator (issue 14): senders,
destinations, rate, keys by hash, client IP allow-list. What reaches the SMSC is counted
at the simulator; every refusal must leave nothing there."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.clients import key_hash
from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits

CRM_KEY = "crm-key-0123456789abcdef"
NEW_KEY = "crm-key-rotated-fedcba987654"
SHOP_KEY = "shop-key-0123456789abcdef"
CLIENTS = {
    "crm": {
        "api_keys": [f"sha256:{key_hash(CRM_KEY)}", f"sha256:{key_hash(NEW_KEY)}"],
        "senders": ["Acme*"],
        "default_sender": "AcmeBank",
        "allowed_countries": ["DE", "AUT"],
    },
    "shop": {"api_keys": [f"sha256:{key_hash(SHOP_KEY)}"], "allowed_ips": ["10.0.0.0/8"]},
}


def start(
    start_gateway: Callable[..., GatewayProcess], sim: SimulatorProcess, **more: dict
) -> GatewayProcess:
    return start_gateway(sim.port, clients={**CLIENTS, **more})


def test_senders_and_default_sender(start_gateway, sim: SimulatorProcess) -> None:
    gateway = start(start_gateway, sim)
    other = gateway.request(
        "POST", "/sms", {"from": "Other", "to": "491701234567", "text": "x"}, key=CRM_KEY
    )
    assert other.json()["responseCode"] == 6
    assert "Other" in other.json()["detail"] and "crm" in other.json()["detail"]
    given = gateway.request("POST", "/sms", {"to": "491701234567", "text": "hi"}, key=NEW_KEY)
    assert given.json()["responseCode"] == 0  # the rotated key works as well
    assert gateway.get(f"/sms/{given.json()['id']}").json()["client"] == "crm"
    (submit,) = wait_for(lambda: all_submits(sim), timeout=15, what="the submit_sm")
    assert submit["source_addr"] == "AcmeBank" and submit["destination_addr"] == "491701234567"


def test_destinations_per_receiver_in_a_bulk(start_gateway, sim: SimulatorProcess) -> None:
    gateway = start(start_gateway, sim)
    to = [
        "491701234560", "436641234561", "41791234562", "491701234563", "436641234564",
        "12025550165", "491701234566", "436641234567", "447700900168", "491701234569",
    ]  # fmt: skip
    answer = gateway.request(
        "POST", "/smsbulk", {"from": "Acme", "to": to, "text": "x"}, key=CRM_KEY
    ).json()
    codes = [m.get("responseCode", 0) for m in answer["messages"]]
    assert [m["to"] for m in answer["messages"]] == to  # order kept
    assert codes == [0, 0, 8, 0, 0, 8, 0, 0, 8, 0]
    assert "CHE" in answer["messages"][2]["detail"]
    allowed = {n for n, code in zip(to, codes, strict=True) if code == 0}
    wait_for(lambda: len(all_submits(sim)) >= 7, timeout=15, what="7 submit_sm")
    assert {s["destination_addr"] for s in all_submits(sim)} == allowed


def test_a_hashed_key_works_and_no_plain_key_is_in_config_or_log(
    start_gateway, sim: SimulatorProcess
) -> None:
    gateway = start(start_gateway, sim)
    assert (
        gateway.request("POST", "/sms", {"to": "491701234567", "text": "x"}, key=CRM_KEY).status
        == 200
    )
    assert gateway.request("GET", "/status", key="not-a-key").status == 401
    for text in (gateway.config_path.read_text(), gateway.log()):
        assert CRM_KEY not in text and NEW_KEY not in text


def test_client_ip_allow_list(start_gateway, sim: SimulatorProcess) -> None:
    gateway = start(start_gateway, sim)
    refused = gateway.request(
        "POST", "/sms", {"from": "Shop", "to": "491701234567", "text": "x"}, key=SHOP_KEY
    )
    assert refused.status == 403 and "127.0.0.1" in refused.json()["error"]
    assert sim.stats()["submit_sm"] == 0


FAST = {"fast": {"api_keys": ["fast-key-0123456789"], "rate": 50, "burst": 50}}


def check_rate(sim: SimulatorProcess, daemons: list[GatewayProcess]) -> None:
    """200 requests as fast as 16 threads send them, spread over `daemons`: at most the
    burst plus what refilled meanwhile is accepted, the rest is 429 with Retry-After,
    and exactly the accepted ones reach the SMSC."""
    statuses, elapsed = send_many(daemons, "fast-key-0123456789", 200)
    accepted = [number for number, (status, _) in statuses.items() if status == 200]
    limited = [retry for status, retry in statuses.values() if status == 429]
    assert 50 <= len(accepted) <= 50 + 50 * elapsed + 1, (len(accepted), elapsed)
    assert len(accepted) + len(limited) == 200 and all(r and int(r) >= 1 for r in limited)
    wait_for(lambda: len(all_submits(sim)) >= len(accepted), timeout=20, what="the accepted")
    assert sorted(s["destination_addr"] for s in all_submits(sim)) == sorted(accepted)
    counted = sum(
        d.metric("smpp_gateway_client_rate_limited_total", client="fast") for d in daemons
    )
    assert counted == len(limited)


def test_rate_limit_answers_429_and_stores_nothing_over_it(start_gateway, sim) -> None:
    check_rate(sim, [start(start_gateway, sim, **FAST)])


@pytest.mark.postgres_only
def test_the_rate_limit_holds_across_two_daemons(start_gateway, sim) -> None:
    check_rate(sim, [start(start_gateway, sim, **FAST) for _ in range(2)])


def send_many(
    daemons: list[GatewayProcess], key: str, n: int
) -> tuple[dict[str, tuple[int, str | None]], float]:
    """POST /sms n times from 16 threads, in turn to each daemon: by number, the status
    and Retry-After; and the seconds it all took."""

    def one(i: int) -> tuple[str, tuple[int, str | None]]:
        number = f"4917012{i:05d}"
        body = json.dumps({"from": "Fast", "to": number, "text": "x"}).encode()
        request = urllib.request.Request(
            daemons[i % len(daemons)].base_url + "/sms",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-Mitto-API-Key": key},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return number, (response.status, None)
        except urllib.error.HTTPError as exc:
            return number, (exc.code, exc.headers.get("Retry-After"))

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = dict(pool.map(one, range(n)))
    return answers, time.monotonic() - started


def test_new_key_prints_a_key_once_and_the_line_that_names_it_by_hash(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "clients", "new-key", "billing"],
        capture_output=True, text=True, check=True, timeout=30,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    key = lines[1]
    assert f'api_keys = ["sha256:{key_hash(key)}"]' in out and "[clients.billing]" in out
    assert out.count(key) == 1 and len(key) >= 32


def test_the_daily_quota_refuses_the_request_that_would_pass_it(start_gateway, sim) -> None:
    quota = {"quota": {"api_keys": ["quota-key-0123456789"], "quota_day": 5}}
    gateway = start(start_gateway, sim, **quota)
    answers = [
        gateway.request(
            "POST", "/sms", {"from": "Quota", "to": f"4917055{i:05d}", "text": "x"},
            key="quota-key-0123456789",
        )
        for i in range(6)
    ]  # fmt: skip
    assert [a.status for a in answers] == [200] * 5 + [429]
    text = answers[5].json()
    assert "5 SMS parts a day" in text and "resets at" in text and "T00:00:00" in text
    assert int(answers[5].headers["Retry-After"]) <= 86_400
    wait_for(lambda: len(all_submits(sim)) >= 5, timeout=15, what="the five")
    assert len(all_submits(sim)) == 5
    status = gateway.get("/status").json()["clients"]
    assert status["quota"] == {"last_minute": 5, "quota_day_left": 0}
    assert status["crm"] == {"last_minute": 0}


def test_callbacks_name_the_client_when_configured_and_metrics_count_per_client(
    start_gateway, sim: SimulatorProcess
) -> None:
    sim.config(receipt_delay=0.05)
    with WebhookReceiver() as receiver:
        hooks = {
            "default_callback_url": receiver.url("/cb"),
            "notify_statuses": ["DELIVERED"],
            "client_parameter": "client",
        }
        gateway = start_gateway(sim.port, clients=CLIENTS, webhooks=hooks)
        sent = gateway.request("POST", "/sms", {"to": "491701234567", "text": "x"}, key=CRM_KEY)
        gateway.request("POST", "/sms", {"from": "Other", "to": "491701234567", "text": "x"},
                        key=CRM_KEY)  # fmt: skip
        (callback,) = receiver.wait_for_count(1, timeout=20)
        assert callback.query["client"] == "crm" and callback.query["msgid"] == sent.json()["id"]
        name = "smpp_gateway_client_response_codes_total"
        assert gateway.metric(name, client="crm", code="0") == 1
        assert gateway.metric(name, client="crm", code="6") == 1


def test_a_clients_callback_url_hosts_and_account(start_gateway, sim: SimulatorProcess) -> None:
    """crm has its own default callback, callback hosts and account for usage; the global
    key's client keeps the global ones (no default callback, hosts 127.0.0.1)."""
    sim.config(receipt_delay=0.05)
    with WebhookReceiver() as receiver:
        crm = {
            **CLIENTS["crm"],
            "callback_url": receiver.url("/crm"),
            "allowed_callback_hosts": ["hooks.example"],
            "account_name": "crm-account",
        }
        gateway = start_gateway(
            sim.port,
            clients={"crm": crm},
            webhooks={"notify_statuses": ["DELIVERED"]},
        )
        mine = gateway.request("POST", "/sms", {"to": "491701234567", "text": "x"}, key=CRM_KEY)
        gateway.send(**{"from": "Global", "to": "491701234568", "text": "x"})  # no callback
        (callback,) = receiver.wait_for_count(1, timeout=20)
        assert callback.path == "/crm" and callback.query["msgid"] == mine.json()["id"]
        off_list = gateway.request(
            "POST",
            "/sms",
            {"to": "491701234567", "text": "x", "callback": receiver.url("/x")},
            key=CRM_KEY,
        )
        assert off_list.status == 400 and "allowed callback host" in off_list.json()["error"]

        today = datetime.now(UTC).date().isoformat()

        def usage(account: str, key: str) -> Any:
            request = {"startDate": today, "endDate": today, "accountName": account}
            return gateway.request("POST", "/usage/bycountry", request, key=key)

        expected = [{"country": "DEU", "messagesCount": "1", "cost": None}]
        wait_for(lambda: usage("crm-account", CRM_KEY).json() == expected, what="crm's usage")
        assert usage("default", CRM_KEY).status == 403
        wait_for(
            lambda: usage("default", API_KEY).json()[0]["messagesCount"] == "2",
            what="the account's usage, both clients",
        )


WHSEC = "whsec_" + base64.b64encode(bytes(range(32))).decode()


def test_a_client_signs_its_callbacks_its_own_way_and_to_its_own_hosts(
    start_gateway, sim: SimulatorProcess
) -> None:
    """crm: Standard Webhooks with its own secret, to a host only crm may call back to;
    the global key's callbacks keep the global HMAC scheme."""
    import standardwebhooks

    sim.config(receipt_delay=0.05)
    with WebhookReceiver() as receiver:
        crm = {
            **CLIENTS["crm"],
            "callback_url": receiver.url("/crm"),
            "allowed_callback_hosts": ["127.0.0.1"],
            "signature_scheme": "standard-webhooks",
            "webhook_secret": WHSEC,
        }
        hooks = {
            "method": "POST",
            "secret": "global-hmac-secret",
            "notify_statuses": ["DELIVERED"],
            "allowed_callback_hosts": ["hooks.example"],  # 127.0.0.1 only for crm
        }
        gateway = start_gateway(sim.port, clients={"crm": crm}, webhooks=hooks)
        gateway.request("POST", "/sms", {"to": "491701234567", "text": "x"}, key=CRM_KEY)
        gateway.send(**{"from": "Global", "to": "491701234568", "text": "x",
                        "callback": "http://hooks.example/cb"})  # fmt: skip
        (crm_hook,) = receiver.wait_for_count(1, timeout=20)
        headers = {k.lower(): v for k, v in crm_hook.headers.items()}
        assert standardwebhooks.Webhook(WHSEC).verify(crm_hook.body, headers)["status"] == (
            "DELIVERED"
        )
        assert crm_hook.header("X-Webhook-Signature") is None
    assert "Traceback" not in gateway.log() and WHSEC not in gateway.log()

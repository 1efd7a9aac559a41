"""Two daemons on one PostgreSQL database, each with one session to the simulator.

The simulator hands receipts round-robin to the receiver binds of one system_id, so
about half the receipts arrive on the daemon that did not submit the message: these
tests see cross-daemon correlation for real, not simulated. Counts come from the
simulator (submit_sm per receiver) and the webhook receiver (callbacks per msgid).
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits, receivers

pytestmark = pytest.mark.postgres_only

WINDOW = 10  # smpp.window: unanswered submits one session may have at once


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def send_many(gateways: list[GatewayProcess], numbers: list[str], threads: int = 16) -> list[str]:
    """POST /sms once per number, alternating between the daemons' HTTP ports."""

    def send(i: int) -> str:
        gateway = gateways[i % len(gateways)]
        body = json.dumps({"from": "Shop", "to": numbers[i], "text": f"m{i}"}).encode()
        request = urllib.request.Request(
            gateway.base_url + "/sms",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-Mitto-API-Key": API_KEY},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        assert answer["responseCode"] == 0, answer
        return answer["id"]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, range(len(numbers))))


def metric(gateway: GatewayProcess, name: str) -> float:
    """Sum of a metric's samples in one scrape (0 when absent)."""
    text = gateway.get("/metrics").body.decode()
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def two_daemons(
    start_gateway: Callable[..., GatewayProcess], sim: SimulatorProcess, **overrides: dict
) -> list[GatewayProcess]:
    smpp = {"sessions": 1, "window": WINDOW, **overrides.pop("smpp", {})}
    return [start_gateway(sim.port, smpp=smpp, **overrides) for _ in range(2)]


@pytest.mark.xdist_group("heavy")  # CPU-hungry: one worker runs the heavy tests in turn
@pytest.mark.timeout(300)  # two daemons at full speed beside the rest of the suite
def test_5000_sends_on_two_daemons_submit_once_and_call_back_once(
    start_gateway: Callable[..., GatewayProcess], receiver: WebhookReceiver
) -> None:
    n = 5_000  # 10,000 before the suite ran in parallel: the same claims, in half the CPU
    with SimulatorProcess(receipt_delay=0.05) as sim:
        hooks = {"default_callback_url": receiver.url("/cb"), "notify_statuses": ["DELIVERED"]}
        # the production lease: no daemon dies here, and on a loaded machine a renewal can
        # wait behind a deep writer queue longer than the tests' 3 s
        daemons = two_daemons(start_gateway, sim, webhooks=hooks, store={"claim_lease": 30.0})
        numbers = receivers(n)
        started = time.monotonic()
        ids = send_many(daemons, numbers)
        wait_for(lambda: sim.stats()["submit_sm"] >= n, timeout=240, what=f"{n} submit_sm")
        submitted_after = time.monotonic() - started
        wait_for(lambda: receiver.count >= n, timeout=240, interval=0.5, what=f"{n} callbacks")
        seen = Counter(s["destination_addr"] for s in all_submits(sim))
        assert len(seen) == n and set(seen) == set(numbers)
        assert max(seen.values()) == 1, "a message was submitted twice"
        calls = Counter(r.query.get("msgid") for r in receiver.requests)
        assert calls == Counter(ids), "a callback was missing or sent twice"
        stats = sim.stats()
        assert stats["receipts_sent"] == n and stats["bound_sessions"] == 2
        cross = [metric(d, "smpp_gateway_receipts_cross_daemon_total") for d in daemons]
        claims = [metric(d, "smpp_gateway_store_claims_total") for d in daemons]
        assert all(c > 0 for c in cross), f"receipts crossed daemons: {cross}"
        assert sum(cross) >= n // 10
        assert all(c > 0 for c in claims) and sum(claims) == n
        print(
            f"\n{n} sends on 2 daemons: submitted in {submitted_after:.1f} s; "
            f"claims {claims}, cross-daemon receipts {cross}"
        )


def test_kill_9_of_one_daemon_the_other_takes_its_claims_after_the_lease(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    n = 600
    with SimulatorProcess(receipt_delay=-1) as sim:
        # no response timeout while the SMSC holds the answers: it would drop the links and
        # put more windows on the wire before the kill (seconds pass on a loaded machine)
        victim, survivor = two_daemons(start_gateway, sim, smpp={"response_timeout": 120.0})
        sim.pause()  # submits are taken but never answered: both windows fill
        numbers = receivers(n)
        ids = send_many([victim, survivor], numbers)
        wait_for(lambda: sim.stats()["held_responses"] >= 2 * WINDOW, what="both windows full")
        victim.kill()
        sim.resume()
        wait_for(
            lambda: set(s["destination_addr"] for s in all_submits(sim)) >= set(numbers),
            timeout=60,
            what="every receiver at the simulator",
        )
        wait_for(
            lambda: all(survivor.get(f"/sms/{i}").json()["state"] == "sent" for i in ids),
            timeout=30,
            what="every message sent",
        )
        seen = Counter(s["destination_addr"] for s in all_submits(sim))
        duplicates = sum(seen.values()) - len(seen)
        expired = metric(survivor, "smpp_gateway_store_lease_expiries_total")
        assert expired >= 1, "the survivor took over the dead daemon's claims"
        assert duplicates <= WINDOW, f"at most the dead daemon's window: {duplicates}"
        assert duplicates <= expired
        print(
            f"\nkill -9 of one of 2 daemons with {n} queued: {duplicates} duplicates, "
            f"{expired:.0f} claims taken over after the lease"
        )


def test_a_daemon_over_the_session_budget_backs_off_and_its_sends_go_out_elsewhere(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    """Account limit 1 session, two daemons: the second bind is refused. That daemon
    stays healthy but not ready, counts the refusals and retries with backoff; what it
    accepts is stored in the shared database and submitted by the daemon that is bound."""
    with SimulatorProcess(receipt_delay=-1, max_sessions=1) as sim:
        bound = start_gateway(sim.port, smpp={"sessions": 1})
        refused = start_gateway(sim.port, wait_ready=False, smpp={"sessions": 1})
        wait_for(
            lambda: metric(refused, "smpp_gateway_session_bind_failures_total") >= 2,
            timeout=15,
            what="refused binds counted",
        )
        assert refused.get("/healthz").status == 200
        assert refused.get("/readyz").status == 503
        numbers = receivers(20)
        ids = send_many([refused], numbers, threads=4)
        wait_for(
            lambda: all(bound.get(f"/sms/{i}").json()["state"] == "sent" for i in ids),
            timeout=20,
            what="the bound daemon submitted the refused daemon's messages",
        )
        assert {s["destination_addr"] for s in all_submits(sim)} == set(numbers)
        assert sim.stats()["bound_sessions"] == 1

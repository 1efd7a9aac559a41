"""Faults on the send path: dropped links, throttling, a killed daemon. Nothing is lost."""

from __future__ import annotations

from collections import Counter

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits, receivers, wait_submits


def send_all(gateway: GatewayProcess, numbers: list[str]) -> list[str]:
    ids = []
    for number in numbers:
        body = gateway.send(**{"from": "Shop", "to": number, "text": f"msg {number}"})
        assert body["responseCode"] == 0
        ids.append(body["id"])
    return ids


def wait_all_sent(gateway: GatewayProcess, ids: list[str], timeout: float = 30.0) -> None:
    pending = set(ids)

    def check() -> bool:
        for message_id in list(pending):
            if gateway.get(f"/sms/{message_id}").json()["state"] == "sent":
                pending.discard(message_id)
        return not pending

    wait_for(check, timeout=timeout, interval=0.1, what="every message in state sent")


def test_connection_dropped_mid_window_rebinds_and_loses_nothing(
    sim: SimulatorProcess, start_gateway
):
    sim.config(close_after=7)  # the 7th submit on each connection is never answered
    gateway = start_gateway(sim.port)
    numbers = receivers(40)
    ids = send_all(gateway, numbers)
    wait_all_sent(gateway, ids)
    seen = Counter(s["destination_addr"] for s in all_submits(sim))
    assert set(seen) == set(numbers)
    stats = sim.stats()
    assert stats["binds"] >= 2 and stats["dropped"] >= 1  # the fault really happened


def test_throttling_every_fifth_submit_still_submits_everything(
    sim: SimulatorProcess, start_gateway
):
    sim.config(throttle_every=5)
    gateway = start_gateway(sim.port, smpp={"throttle_pause": 0.05})
    numbers = receivers(30)
    ids = send_all(gateway, numbers)
    wait_all_sent(gateway, ids)
    accepted = Counter(s["destination_addr"] for s in all_submits(sim))
    assert set(accepted) == set(numbers) and max(accepted.values()) == 1
    assert sim.stats()["throttled"] >= 6
    metrics = gateway.get("/metrics").body.decode()
    assert 'smpp_gateway_submit_responses_total{status="ESME_RTHROTTLED"}' in metrics


def test_kill_9_with_200_unsubmitted_messages_then_restart_submits_all(
    sim: SimulatorProcess, start_gateway
):
    sim.pause()  # submit_sm are taken but never answered
    # no response timeout while the 200 sends go in (seconds on a loaded machine): it
    # would drop the link and put a second window on the wire before the kill
    gateway = start_gateway(sim.port, smpp={"response_timeout": 120.0})
    numbers = receivers(200)
    send_all(gateway, numbers)
    wait_for(lambda: sim.stats()["held_responses"] == 10, what="window full at the simulator")
    gateway.kill()
    sim.resume()
    restarted = start_gateway(sim.port, store={"path": str(gateway.db_path)})
    wait_submits(sim, 200, timeout=30)
    wait_for(
        lambda: set(s["destination_addr"] for s in all_submits(sim)) >= set(numbers),
        timeout=30,
        what="all 200 receivers at the simulator",
    )
    seen = Counter(s["destination_addr"] for s in all_submits(sim))
    duplicates = sum(seen.values()) - len(seen)
    assert duplicates <= 10  # at most the in-flight window at the moment of the crash
    # exactly what was written and never answered: the window, not everything claimed
    assert restarted.metric("smpp_gateway_possible_duplicates_total") == 10


def test_sigterm_drains_and_unbinds(sim: SimulatorProcess, gateway: GatewayProcess):
    ids = send_all(gateway, receivers(5))
    wait_all_sent(gateway, ids)
    assert gateway.stop() == 0
    stats = sim.wait_for(lambda s: s["unbind"] >= 1)
    assert stats["bound_sessions"] == 0


def test_smsc_down_at_start_then_up_binds_and_delivers(tmp_path, start_gateway):
    # binds are refused until the test lifts it (a fixed 1.5 s passed before the daemon
    # answered on a loaded machine)
    with SimulatorProcess(receipt_delay=-1, refuse_binds_for=60) as sim:
        gateway = start_gateway(sim.port, wait_ready=False)
        assert gateway.get("/readyz").status == 503
        ids = send_all(gateway, receivers(3))  # accepted while no bind is up
        sim.wait_for(lambda s: s["bind_failed"] >= 1)
        sim.config(refuse_binds_for=0)
        wait_for(lambda: gateway.get("/readyz").status == 200, timeout=15, what="bound")
        wait_all_sent(gateway, ids)
        assert sim.stats()["bind_failed"] >= 1

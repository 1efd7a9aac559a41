"""A misbehaving SMSC: the gateway rebinds when it must, answers garbage, and loses nothing.

Each case runs the real daemon against the simulator, sends before, during and after one
hostile mode (docs/simulator.md, switched at runtime), and then checks at the simulator
that every accepted message arrived, with duplicates only where a connection was lost
(at most one window per lost connection), that every message got its DELIVERED receipt,
and that the daemon is alive with no traceback in its log. SQLite only: the faults are
on the SMPP side, the store sees nothing unusual.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits, receivers

pytestmark = pytest.mark.sqlite_only

WINDOW = 10  # smpp.window, the most a lost connection can leave unanswered
PER_PHASE = 8
EVERY = 3  # the hostile mode fires on every 3rd submit_sm while it is on
SLOW_TIMEOUT = 1.0  # smpp.response_timeout for the "slow" case: 26 bytes take 2.6 s


def fired(stats: dict[str, Any], mode: str) -> int:
    return stats["hostile"].get(mode, 0)


def enough_for(mode: str):
    """When the fault has clearly happened (and, where it must, cost a connection)."""

    def check(stats: dict[str, Any]) -> bool:
        if mode == "slow":
            return stats["slow_bytes"] >= 20 and stats["connections_closed"] >= 1
        if mode == "slow_ok":
            return stats["slow_bytes"] >= 200
        count = fired(stats, mode)
        if mode in ("unknown_command", "unknown_seq", "garbage_receipt"):
            return count >= 2
        return count >= 2 and stats["binds"] >= 3  # two faults, two rebinds

    return check


# (mode as the simulator knows it, extra simulator knobs, extra [smpp] settings, binds lost)
FAULTS = {
    "truncate": ("truncate", {}, {}, True),
    "truncate_close": ("truncate_close", {}, {}, True),
    "length_huge": ("length_huge", {}, {}, True),
    "length_small": ("length_small", {}, {}, True),
    "unknown_command": ("unknown_command", {}, {}, False),
    "unknown_seq": ("unknown_seq", {}, {}, False),
    "garbage_receipt": ("garbage_receipt", {}, {}, False),
    "unbind": ("unbind", {}, {}, True),
    # one byte every 0.1 s: every answer takes longer than the response timeout
    "slow": ("slow", {"slow_byte_interval": 0.1}, {"response_timeout": SLOW_TIMEOUT}, True),
    # one byte every 2 ms: slow but in time; the reader must reassemble byte by byte
    "slow_ok": ("slow", {"slow_byte_interval": 0.002}, {}, False),
}


def send_phase(gateway: GatewayProcess, numbers: list[str], label: str) -> dict[str, str]:
    """message id -> receiver, for messages the API accepted."""
    accepted = {}
    for number in numbers:
        body = gateway.send(**{"from": "Shop", "to": number, "text": f"{label} {number}"})
        assert body["responseCode"] == 0, body
        accepted[body["id"]] = number
    return accepted


def wait_delivered(gateway: GatewayProcess, ids: list[str], timeout: float) -> None:
    pending = set(ids)
    views: dict[str, Any] = {}

    def check() -> bool:
        for message_id in list(pending):
            views[message_id] = view = gateway.get(f"/sms/{message_id}").json()
            if view["status"] == "DELIVERED":
                pending.discard(message_id)
        return not pending

    try:
        wait_for(check, timeout=timeout, interval=0.1, what=f"DELIVERED for {len(ids)}")
    except AssertionError as exc:
        stuck = [(views[i]["state"], views[i]["smscMessageIds"]) for i in sorted(pending)]
        raise AssertionError(f"{exc}; not delivered: {stuck}") from None


@pytest.mark.parametrize("fault", list(FAULTS))
def test_gateway_survives_a_hostile_smsc(store_backend, start_gateway, fault: str) -> None:
    mode, knobs, smpp, loses_link = FAULTS[fault]
    numbers = receivers(3 * PER_PHASE)
    with SimulatorProcess(receipt_delay=0.05, redeliver_delay=0.1, **knobs) as sim:
        gateway = start_gateway(sim.port, smpp={"window": WINDOW, **smpp})
        ids = send_phase(gateway, numbers[:PER_PHASE], "before")
        wait_delivered(gateway, list(ids), timeout=10)
        sim.hostile(mode, every=EVERY)
        ids |= send_phase(gateway, numbers[PER_PHASE : 2 * PER_PHASE], "during")
        sim.wait_for(enough_for(fault), timeout=20)
        sim.hostile("off")
        ids |= send_phase(gateway, numbers[2 * PER_PHASE :], "after")
        wait_delivered(gateway, list(ids), timeout=30)
        stats = sim.wait_deliveries_settled()

        seen = Counter(s["destination_addr"] for s in all_submits(sim))
        assert set(seen) == set(numbers), "every accepted message reached the SMSC"
        duplicates = sum(seen.values()) - len(seen)
        lost_links = stats["binds"] - 1
        assert duplicates <= WINDOW * lost_links, (duplicates, lost_links)
        if loses_link:
            assert lost_links >= 1, "the fault should have cost the connection"
        else:
            assert (lost_links, duplicates) == (0, 0), "nothing here justifies a rebind"
        assert gateway.proc is not None and gateway.proc.poll() is None, "daemon alive"
        assert gateway.get("/healthz").status == 200
        log = gateway.log()
        assert "Traceback" not in log, log[-3000:]
        check_answers(fault, stats, log)


def check_answers(fault: str, stats: dict[str, Any], log: str) -> None:
    """The gateway's answers to what it could not accept, as SMPP prescribes them."""
    if fault in ("length_huge", "length_small"):
        # generic_nack ESME_RINVCMDLEN for each bad command_length read, then it hangs up
        assert stats["generic_nack_received"] >= 2 and "absurd command_length" in log
    if fault == "truncate":
        assert "stream out of step" in log
    if fault == "unknown_command":
        # one generic_nack ESME_RINVCMDID per unknown request (responses are ignored)
        assert stats["generic_nack_received"] == fired(stats, "unknown_command")
    if fault == "unknown_seq":
        assert "submit_sm_resp for unknown seq" in log
    if fault == "garbage_receipt":
        garbage = stats["garbage_sent"]
        assert garbage == fired(stats, "garbage_receipt") >= 2
        assert stats["deliver_sm_resp"].get("ESME_RX_P_APPN") == garbage
        assert stats["deliver_dropped"] == garbage and stats["deliver_resent"] == 0
    if fault == "unbind":
        assert stats["unbind_resp"] >= 2 and stats["unbind"] == 0  # answered, not initiated
    if fault == "slow":
        assert "no submit_sm_resp within" in log

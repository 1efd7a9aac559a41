"""Submit flow control against the real simulator (issue 16): the adaptive window over a
slow round trip, the pace against a throttling SMSC, the window after response timeouts,
and `smpp.max_rate` across two daemons on one PostgreSQL database.

Counts come from the simulator (each accepted submit_sm with its destination and time)
and from the daemon's own /status and /metrics. The rule itself is unit-tested with an
injected clock in tests/unit/test_smpp_flow.py.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits, receivers

BASE = {"from": "Shop", "text": "flow"}
FAST_RETRIES = {"retry_min_delay": 0.1, "retry_max_delay": 0.5}


def bulk(gateway: GatewayProcess, numbers: list[str]) -> None:
    answer = gateway.request("POST", "/smsbulk", {**BASE, "to": numbers}).json()
    assert answer["responseCode"] == 0 and all("id" in m for m in answer["messages"]), answer


def session(gateway: GatewayProcess) -> dict[str, Any]:
    sessions = gateway.get("/status").json()["sessions"]
    assert sessions, "the engine published no session"
    return dict(sessions[0])


def metric(gateway: GatewayProcess, name: str, **labels: str) -> float:
    text = gateway.get("/metrics").body.decode()
    total = 0.0
    for found, value in re.findall(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        if all(f'{k}="{v}"' in found for k, v in labels.items()):
            total += float(value)
    return total


def once_each(sim: SimulatorProcess, numbers: list[str]) -> Counter[str]:
    """Waits until every number reached the simulator; returns the count per number."""
    wait_for(
        lambda: {s["destination_addr"] for s in all_submits(sim)} >= set(numbers),
        timeout=60,
        what=f"{len(numbers)} receivers at the simulator",
    )
    return Counter(s["destination_addr"] for s in all_submits(sim))


def test_the_window_grows_over_a_slow_round_trip(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    """50 ms per answer: a window of 10 would take 4 s for 800; the window grows past it."""
    numbers = receivers(800)
    with SimulatorProcess(response_delay=0.05, receipt_delay=-1) as sim:
        gateway = start_gateway(sim.port, smpp={"window": 10})
        bulk(gateway, numbers)
        seen = once_each(sim, numbers)
        assert max(seen.values()) == 1, "a message was submitted twice"
        # the engine publishes its status twice a second: the run may be shorter
        grown = wait_for(
            lambda: (size := session(gateway)["window"]) > 10 and size,
            timeout=5,
            what="a window past 10 in /status",
        )
        # (the simulator records a submit as it takes it: its answer is 50 ms behind)
        wait_for(
            lambda: metric(gateway, "smpp_gateway_submit_round_trip_seconds_count") >= 800,
            timeout=10,
            what="800 round trips measured",
        )
        assert grown > 10
        # the gauge and /status come from the same snapshot, published twice a second
        wait_for(
            lambda: (
                metric(gateway, "smpp_gateway_session_window_segments")
                == session(gateway)["window"]
            ),
            timeout=5,
            what="the window gauge as /status shows it",
        )


def test_a_throttling_smsc_gets_paced_and_nothing_is_lost_or_sent_twice(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    numbers = receivers(600)
    with SimulatorProcess(throttle_rate=200, receipt_delay=-1) as sim:
        gateway = start_gateway(sim.port, smpp={"window": 10, **FAST_RETRIES})
        bulk(gateway, numbers)
        seen = once_each(sim, numbers)
        assert max(seen.values()) == 1, "a message was submitted twice"
        throttled = sim.stats()["throttled"]
        assert throttled > 0, "the simulator never throttled: the test proves nothing"
        counted = metric(gateway, "smpp_gateway_session_congestion_total", kind="throttled")
        assert counted == throttled
        view = session(gateway)
        assert view["pace_per_second"] is not None and view["pace_per_second"] < 400
        assert throttled < len(numbers) / 4, f"{throttled} throttled of {len(numbers)}"


def test_response_timeouts_drop_the_window_to_one(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    """The SMSC holds every answer: the submits time out, the link is dropped and bound
    again, and the new link starts from a window of one; every message arrives once the
    SMSC answers again (the unanswered ones possibly twice: at least once)."""
    numbers = receivers(30)
    with SimulatorProcess(receipt_delay=-1) as sim:
        gateway = start_gateway(sim.port, smpp={"window": 10, "response_timeout": 1.0})
        sim.pause()
        bulk(gateway, numbers)
        wait_for(lambda: sim.stats()["binds"] >= 2, timeout=30, what="a bind after the timeout")
        wait_for(lambda: session(gateway)["window"] == 1, timeout=10, what="a window of one")
        timeouts = metric(gateway, "smpp_gateway_session_congestion_total", kind="timeout")
        assert timeouts >= 10
        sim.resume()
        seen = once_each(sim, numbers)
        assert sum(seen.values()) - len(seen) <= timeouts  # only the unanswered, again


@pytest.mark.postgres_only
def test_max_rate_holds_across_two_daemons_without_a_throttle(
    start_gateway: Callable[..., GatewayProcess],
) -> None:
    """max_rate 100 over two daemons against an SMSC throttling above 200 (without the
    cap they would send thousands a second): paced, never throttled, and together no
    faster than the cap plus its burst (0.1 s of the store's bucket, a batch a daemon)."""
    numbers = receivers(500)
    with SimulatorProcess(throttle_rate=200, receipt_delay=-1) as sim:
        smpp = {"window": 10, "max_rate": 100.0}
        daemons = [start_gateway(sim.port, smpp=smpp) for _ in range(2)]
        bulk(daemons[0], numbers[:250])
        bulk(daemons[1], numbers[250:])
        seen = once_each(sim, numbers)
        assert max(seen.values()) == 1
        assert sim.stats()["throttled"] == 0
        times = sorted(s["t"] for s in all_submits(sim))
        span = times[-1] - times[0]
        assert span >= (len(numbers) - 10 - 2 * 5) / 100.0, f"{len(numbers)} in {span:.2f} s"
        assert all(metric(d, "smpp_gateway_submit_rate_cap_per_second") == 100 for d in daemons)
        per_daemon = [metric(d, "smpp_gateway_segments_submitted_total") for d in daemons]
        assert all(n > 0 for n in per_daemon), per_daemon

"""An SMSC across a real network, and one that throttles (issue 16).

`wan`: the simulator answers every submit_sm 50 ms later (with up to 5 ms of jitter, so
answers also overtake each other); single sends and bulk with the default config, set
against `single` and `bulk` of the same run (no delay). A fixed window of 10 would cap
them at 200/s; the adaptive window has to find the round trip by itself.

`throttled`: the simulator answers ESME_RTHROTTLED above THROTTLE_RATE a second for the
account; a backlog drains through it. After `Sizes.throttle_settle` seconds (10), the
submit rate must be within 10% of THROTTLE_RATE and throttled answers at most 2% of the
submits.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import Figures, Unavailable, wait_submitted
from bench.loadgen import FIRST_NUMBER, LoadSpec, run_load
from bench.phase import run_phase
from bench.scenarios_send import CLIENTS, _single_spec, _submit_times
from bench.sizes import Sizes
from bench.stack import SmscTarget, running_stack

WAN_DELAY = 0.05  # seconds before each submit_sm_resp: a plausible internet round trip
WAN_JITTER = 0.005
THROTTLE_RATE = 300.0  # submit_sm per second the simulator takes from the account


def wan(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """Single sends (16 clients) then bulk, with a 50 ms round trip to the SMSC."""
    if not target.bundled:
        raise Unavailable("needs the bundled simulator (--response-delay)")
    delay = {"response_delay": WAN_DELAY, "response_jitter": WAN_JITTER}
    with running_stack(target, sim_options=delay) as stack:
        single = run_phase(stack, _single_spec(stack, sizes, sizes.wan_count, CLIENTS, 0), sizes)
        spec = LoadSpec(
            port=stack.port,
            path="/smsbulk",
            count=sizes.bulk_calls,
            connections=sizes.bulk_connections,
            procs=1,
            per_call=sizes.per_call,
            first_number=FIRST_NUMBER + 30_000_000,  # apart from the single sends'
            time_limit=sizes.deadline(sizes.bulk_calls * sizes.per_call),
        )
        bulk = run_phase(stack, spec, sizes)
        window = stack.gateway.get("/status").json()["sessions"][0]["window"]
    return {
        "msgs_per_s_16": single.end_to_end_rate,
        "bulk_receivers_per_s": bulk.submitted_rate,
        "bulk_callbacks_per_s": bulk.end_to_end_rate,
        "window_at_end": float(window),
    }


def throttled(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """A backlog drains through an SMSC that throttles above THROTTLE_RATE: the rate and
    the share of throttled answers once `throttle_settle` seconds have passed."""
    if not target.bundled:
        raise Unavailable("needs the bundled simulator (--throttle-rate)")
    calls = max(1, sizes.throttled_count // sizes.per_call)
    total = calls * sizes.per_call
    with running_stack(target, receipts=False, sim_options={"throttle_rate": THROTTLE_RATE}) as st:
        assert st.sim is not None
        spec = LoadSpec(
            port=st.port,
            path="/smsbulk",
            count=calls,
            connections=1,
            procs=1,
            per_call=sizes.per_call,
            time_limit=sizes.deadline(total),
        )
        result = run_load(spec)
        if result.ok != calls:
            raise RuntimeError(f"throttled: {result.ok}/{calls} bulk calls accepted")
        settle = sizes.throttle_settle
        settled_at = result.start + settle
        time.sleep(max(0.0, settled_at - time.time()))  # the bench's clock, not a sync
        throttled_before = st.sim.stats()["throttled"]
        wait_submitted(st, total, settle + total / (0.5 * THROTTLE_RATE))
        throttled_after = st.sim.stats()["throttled"] - throttled_before
        times = sorted(t for t in _submit_times(st).values() if t >= settled_at)
    if len(times) < 2:
        raise RuntimeError("throttled: the backlog drained before the gateway settled")
    submits = len(times)
    return {
        "settled_per_s": submits / (times[-1] - settled_at),
        "settled_to_limit": submits / (times[-1] - settled_at) / THROTTLE_RATE,
        "throttled_share_pct": 100.0 * throttled_after / (submits + throttled_after),
        "first_throttles": float(throttled_before),
    }

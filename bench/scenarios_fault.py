"""The daemon at rest and under faults: idle cost, a backlog behind a paused SMSC
(memory, drain), SMSC recovery. Simulator receipts are off: these measure the daemon's
own processes, not callbacks."""

from __future__ import annotations

import time
from typing import Any

from bench import procs
from bench.common import Figures, Unavailable, wait_submitted
from bench.loadgen import LoadSpec, run_load
from bench.sizes import Sizes
from bench.stack import SmscTarget, Stack, running_stack
from gateway.testing.waiting import wait_for

# Held submit_sm must outlive the accept phase, or the bench measures timeouts instead.
BACKLOG_SMPP = {"response_timeout": 120.0}
MIB = 1024


def idle(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """A started, bound daemon with nothing to send: CPU of all its processes over
    `idle_seconds` after `idle_settle`, as % of one core, in total and per role."""
    with running_stack(target, receipts=False) as stack:
        time.sleep(sizes.idle_settle)  # start-up work (imports, first status) settles
        roles = stack.roles()
        before = {pid: procs.cpu_seconds(pid) for pid in stack.pids()}
        started = time.monotonic()
        time.sleep(sizes.idle_seconds)  # the measured interval itself, left alone
        elapsed = time.monotonic() - started
        used = {pid: procs.cpu_seconds(pid) - cpu for pid, cpu in before.items()}
        figures = {"rss_mb": stack.rss_kib() / MIB, "pss_mb": stack.pss_kib() / MIB}
    figures["cpu_pct"] = 100 * sum(used.values()) / elapsed
    for role, pids in roles.items():
        figures[f"cpu_pct_{role}"] = 100 * sum(used.get(pid, 0.0) for pid in pids) / elapsed
    return figures


def backlog(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """Accept `backlog_count` while responses are held: memory of all the daemon's
    processes with everything queued, then the drain on resume."""
    if not target.bundled:
        raise Unavailable("needs the bundled simulator (pause/resume)")
    calls = max(1, sizes.backlog_count // sizes.per_call)
    total = calls * sizes.per_call
    with running_stack(target, receipts=False, smpp=BACKLOG_SMPP) as stack:
        assert stack.sim is not None
        idle_rss = stack.rss_kib()
        stack.sim.pause()
        spec = LoadSpec(
            port=stack.port,
            path="/smsbulk",
            count=calls,
            connections=2,
            procs=1,
            per_call=sizes.per_call,
            time_limit=sizes.deadline(total),
        )
        result = run_load(spec)
        if result.ok != calls:
            raise RuntimeError(f"backlog: {result.ok}/{calls} bulk calls accepted")
        queued = {
            "rss_mb_queued": stack.rss_kib() / MIB,
            "peak_rss_mb_queued": stack.rss_kib("VmHWM") / MIB,
            "pss_mb_queued": stack.pss_kib() / MIB,
        }
        resumed = time.time()
        stack.sim.resume()
        drained = wait_submitted(stack, total, sizes.deadline(total))
        after = stack.rss_kib("VmHWM")
    return {
        "accepted_per_s": total / result.elapsed,
        "rss_mb_idle": idle_rss / MIB,
        **queued,
        "peak_rss_mb_drain": after / MIB,
        "drain_s": drained - resumed,
        "drain_per_s": total / (drained - resumed),
    }


def recovery(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """Kill the simulator, keep it down `outage` s, restart it on the same port.

    With the production reconnect backoff (1 s doubling) the figures depend on where in
    the backoff the gateway is when the simulator is back; `down_s` (kill -> ready)
    shows the whole gap."""
    if not target.bundled:
        raise Unavailable("needs the bundled simulator (stop/start)")
    with running_stack(target, receipts=False) as stack:
        sim = stack.sim
        assert sim is not None
        stack.gateway.send(**{"from": "BENCH", "to": "41790000001", "text": "warm"})
        wait_submitted(stack, 1, 30)
        port = sim.port
        killed = time.time()
        sim.stop()
        wait_for(lambda: not stack.ready(), 30, interval=0.005, what="gateway not ready")
        for i in range(10):  # queued while down: the first submit after the rebind
            stack.gateway.send(**{"from": "BENCH", "to": str(41790000100 + i), "text": "q"})
        time.sleep(sizes.outage)  # the outage itself, not synchronisation
        sim.start(port=port)
        back = time.time()
        first, ready = _watch_recovery(stack, back + 120)
    return {"first_submit_s": first - back, "ready_s": ready - back, "down_s": ready - killed}


def _watch_recovery(stack: Stack, deadline: float) -> tuple[float, float]:
    """Poll the new simulator's count and /readyz together; times both first became true."""
    first = ready = 0.0
    while not (first and ready):
        if time.time() > deadline:
            raise TimeoutError(f"no recovery: first submit {first}, ready {ready}")
        if not first and stack.submitted() >= 1:
            first = time.time()
        if not ready and stack.ready():
            ready = time.time()
        time.sleep(0.002)  # polling interval
    return first, ready

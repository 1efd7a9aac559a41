"""The sending scenarios: ceiling, stack, single, bulk, postgres.

`ceiling` and `stack` measure what the machine and the framework allow without the
gateway (a raw SMPP client; a bare Flask app on the gateway's gunicorn settings); the
others drive the daemon with receipts and callbacks on and count a message as done when
its callback arrived.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import procs, sim_rate
from bench.common import Figures, Unavailable, ms, percentile
from bench.loadgen import FIRST_NUMBER, LoadSpec, calibrate, default_procs, run_load
from bench.phase import Phase, SpreadWatch, own_cpu, reaped_cpu, run_phase
from bench.sizes import Sizes
from bench.stack import RECEIPT_DELAY, SmscTarget, Stack, running_bare_app, running_stack
from gateway.testing.simulator import SimulatorProcess

CLIENTS = 16  # keep-alive clients of the main single-send measurement (and the stack's)
MANY_CLIENTS = 64


def ceiling(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """Raw pipelining client (window = the gateway's total window) straight at the SMSC."""
    window = target.window * target.sessions
    args = argparse.Namespace(
        host=target.host or "127.0.0.1",
        system_id=target.system_id,
        password=target.password,
        count=sizes.ceiling_count,
        window=window,
        registered_delivery=0,
    )
    if not target.bundled:
        start, end, ok, _errors = sim_rate.client(args, target.port)
        return {"submits_per_s": ok / (end - start)}
    with SimulatorProcess(receipt_delay=-1, keep_submits=0, max_sessions=16) as sim:
        start, end, ok, _errors = sim_rate.client(args, sim.port)
    return {"submits_per_s": ok / (end - start)}


def stack_line(_target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """The bare app (bench/bare_app.py) at 16 keep-alive clients: the framework's ceiling
    for POST /sms on this machine. The generator's own rate against a do-nothing server
    is measured first, to show it is not the limit."""
    loaders = default_procs()
    calib = calibrate(sizes.calibration_count, CLIENTS, loaders)
    with running_bare_app() as app:
        spec = LoadSpec(
            port=app.port,
            count=sizes.stack_count,
            connections=CLIENTS,
            procs=loaders,
            time_limit=sizes.deadline(sizes.stack_count),
        )
        before, sampled_from = _stack_cpu(app.cpu()), time.time()
        with SpreadWatch(app.pids(), app.port, CLIENTS) as watch:
            result = run_load(spec)
        used = {k: v - before[k] for k, v in _stack_cpu(app.cpu()).items()}
        now = time.time()
    if result.ok == 0:
        raise RuntimeError(f"bare app: no request answered ({result.errors} errors)")
    return {
        "requests_per_s": result.rate,
        "p50_ms": ms(percentile(result.latencies, 50)),
        "p99_ms": ms(percentile(result.latencies, 99)),
        "errors": float(result.errors),
        "cpu_cores": used["app"] / (now - result.start),
        "other_cpu_cores": _others(used) / (now - sampled_from),
        "loadgen_cpu_cores": result.cpu_seconds / result.elapsed,
        "loadgen_calibration_per_s": calib.rate,
        "busiest_worker": float(max(watch.spread, default=0)),
    }


def _stack_cpu(app: float) -> dict[str, float]:
    """CPU seconds so far: the bare app, the bench's own processes, the whole machine."""
    return {"app": app, "bench": own_cpu() + reaped_cpu(), "machine": procs.machine_busy()}


def _others(used: dict[str, float]) -> float:
    """CPU seconds the rest of the machine used: busy time less the bench's parties."""
    return max(0.0, used["machine"] - sum(v for k, v in used.items() if k != "machine"))


def _single_spec(stack: Stack, sizes: Sizes, count: int, clients: int, offset: int) -> LoadSpec:
    """POST /sms, one receiver each; `offset` keeps receivers unique across phases."""
    return LoadSpec(
        port=stack.port,
        count=count,
        connections=clients,
        procs=min(default_procs(), clients),
        first_number=FIRST_NUMBER + offset,
        time_limit=sizes.deadline(count),
    )


def _send_figures(phase: Phase, suffix: str) -> Figures:
    """The figures of one single-send phase, keys suffixed with its client count."""
    result = phase.result
    return {
        f"msgs_per_s_{suffix}": phase.end_to_end_rate,
        f"accepted_per_s_{suffix}": phase.accepted_rate,
        f"submitted_per_s_{suffix}": phase.submitted_rate,
        f"p50_ms_{suffix}": ms(percentile(result.latencies, 50)),
        f"p99_ms_{suffix}": ms(percentile(result.latencies, 99)),
        f"errors_{suffix}": float(result.errors),
        f"gateway_cpu_cores_{suffix}": phase.cores("gateway"),
        f"other_cpu_cores_{suffix}": phase.other_cores,
    }


def single(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """POST /sms at 16 keep-alive clients, then 64, then 1 (the latency floor); each
    phase runs until every callback of the previous one arrived."""
    callbacks = target.bundled  # another SMSC may not send receipts
    with running_stack(target) as stack:
        spec16 = _single_spec(stack, sizes, sizes.single_count, CLIENTS, 0)
        p16 = run_phase(stack, spec16, sizes, callbacks)
        spec64 = _single_spec(stack, sizes, sizes.single64_count, MANY_CLIENTS, 10_000_000)
        p64 = run_phase(stack, spec64, sizes, callbacks)
        spec1 = _single_spec(stack, sizes, sizes.single1_count, 1, 20_000_000)
        p1 = run_phase(stack, spec1, sizes, callbacks)
    return {
        **_send_figures(p16, str(CLIENTS)),
        "simulator_cpu_cores_16": p16.cores("simulator"),
        "receiver_cpu_cores_16": p16.cores("receiver"),
        "loadgen_cpu_cores_16": p16.loadgen_cores,
        "busiest_worker_16": p16.busiest_worker,
        **_send_figures(p64, str(MANY_CLIENTS)),
        "accepted_per_s_1": p1.accepted_rate,
        "p50_ms_1": ms(percentile(p1.result.latencies, 50)),
        "p99_ms_1": ms(percentile(p1.result.latencies, 99)),
    }


def postgres(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """The 16-client single sends on a fresh PostgreSQL database, one daemon."""
    from gateway.testing import postgres as pg  # imports pytest: only when asked for

    reason = pg.unreachable_reason()
    if reason is not None:
        raise Unavailable(reason)
    callbacks = target.bundled
    with (
        pg.fresh_database("bench") as url,
        running_stack(target, store={"url": url}) as stack,
    ):
        spec = _single_spec(stack, sizes, sizes.postgres_count, CLIENTS, 0)
        phase = run_phase(stack, spec, sizes, callbacks)
    return _send_figures(phase, str(CLIENTS))


def bulk(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """POST /smsbulk (per_call receivers each) until the SMSC saw every submit_sm and
    the receiver every callback: do callbacks keep up with the submits?"""
    callbacks = target.bundled
    with running_stack(target) as stack:
        spec = LoadSpec(
            port=stack.port,
            path="/smsbulk",
            count=sizes.bulk_calls,
            connections=sizes.bulk_connections,
            procs=1,
            per_call=sizes.per_call,
            time_limit=sizes.deadline(sizes.bulk_calls * sizes.per_call),
        )
        phase = run_phase(stack, spec, sizes, callbacks)
        submits = _submit_times(stack) if callbacks else {}
    figures = {
        "receivers_per_s": phase.submitted_rate,
        "accepted_receivers_per_s": phase.accepted_rate,
        "gateway_cpu_cores": phase.cores("gateway"),
        "other_cpu_cores": phase.other_cores,
    }
    if callbacks:
        figures |= {
            "callbacks_per_s": phase.end_to_end_rate,
            "callbacks_to_submits": phase.end_to_end_rate / phase.submitted_rate,
            **_receipt_latency(submits, phase.callbacks),
        }
    return figures


def _submit_times(stack: Stack) -> dict[str, float]:
    """destination_addr -> time.time() the simulator accepted its submit_sm."""
    assert stack.sim is not None
    times: dict[str, float] = {}
    since = 0
    while True:
        page = stack.sim.request("GET", f"/submits?since={since}&limit=5000")
        for record in page["submits"]:
            times[record["destination_addr"]] = record["t"]
        if page["next"] == since:
            return times
        since = page["next"]


def _receipt_latency(submits: dict[str, float], callbacks: list[tuple[str, float]]) -> Figures:
    """Receipt -> callback: arrival minus (submit_sm time + the simulator's delay)."""
    latencies = [at - submits[rx] - RECEIPT_DELAY for rx, at in callbacks if rx in submits]
    if not latencies:
        raise RuntimeError("no callback matched a submit_sm (receiver numbers differ?)")
    return {
        "latency_p50_ms": ms(max(percentile(latencies, 50), 1e-6)),
        "latency_p99_ms": ms(max(percentile(latencies, 99), 1e-6)),
    }

"""Scenarios 1-4: the ceiling, single sends, bulk, and receipts to webhooks."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from bench import sim_rate
from bench.common import Figures, ms, percentile, wait_submitted
from bench.loadgen import FIRST_NUMBER, LoadResult, LoadSpec, calibrate, default_procs, run_load
from bench.sizes import Sizes
from bench.stack import RECEIPT_DELAY, SmscTarget, Stack, running_stack
from gateway.testing.simulator import SimulatorProcess


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


@dataclass
class Sent:
    """A load plus when the SMSC had seen all of it and the worker's CPU cores meanwhile."""

    result: LoadResult
    messages: int  # accepted requests x receivers per request
    done: float
    worker_cores: float

    @property
    def submitted_rate(self) -> float:
        """Messages per second from the first request to the SMSC's last submit_sm."""
        return self.messages / (self.done - self.result.start)


def _send_and_wait(stack: Stack, spec: LoadSpec, sizes: Sizes) -> Sent:
    """Run a load, then wait until the SMSC saw every accepted receiver."""
    before, cpu = stack.submitted(), stack.worker_cpu()
    result = run_load(spec)
    if result.ok == 0:
        raise RuntimeError(f"no request accepted ({result.errors} errors)")
    total = result.ok * spec.per_call
    done = wait_submitted(stack, before + total, sizes.deadline(total))
    cores = (stack.worker_cpu() - cpu) / (done - result.start)
    return Sent(result, total, done, cores)


def single(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """POST /sms at 32 keep-alive clients, then at 1 client (the latency floor)."""
    procs = default_procs()
    calib = calibrate(sizes.calibration_count, 32, procs)
    with running_stack(target) as stack:
        port = stack.gateway.port
        spec32 = LoadSpec(
            port=port,
            count=sizes.single_count,
            connections=32,
            procs=procs,
            time_limit=sizes.deadline(sizes.single_count),
        )
        s32 = _send_and_wait(stack, spec32, sizes)
        spec1 = LoadSpec(
            port=port,
            count=sizes.single1_count,
            connections=1,
            procs=1,
            first_number=FIRST_NUMBER + 10_000_000,
            time_limit=sizes.deadline(sizes.single1_count),
        )
        r1 = _send_and_wait(stack, spec1, sizes).result
    r32 = s32.result
    return {
        "accepted_per_s_32": r32.rate,
        "submitted_per_s_32": s32.submitted_rate,
        "p50_ms_32": ms(percentile(r32.latencies, 50)),
        "p99_ms_32": ms(percentile(r32.latencies, 99)),
        "accepted_per_s_1": r1.rate,
        "p50_ms_1": ms(percentile(r1.latencies, 50)),
        "p99_ms_1": ms(percentile(r1.latencies, 99)),
        "gateway_cpu_cores_32": s32.worker_cores,
        "loadgen_cpu_cores_32": r32.cpu_seconds / r32.elapsed,
        "loadgen_calibration_per_s_32": calib.rate,
    }


def bulk(target: SmscTarget, sizes: Sizes, ctx: dict[str, Any]) -> Figures:
    """POST /smsbulk (per_call receivers each) until the SMSC saw every submit_sm."""
    with running_stack(target) as stack:
        spec = LoadSpec(
            port=stack.gateway.port,
            path="/smsbulk",
            count=sizes.bulk_calls,
            connections=2,
            procs=1,
            per_call=sizes.per_call,
            time_limit=sizes.deadline(sizes.bulk_calls * sizes.per_call),
        )
        sent = _send_and_wait(stack, spec, sizes)
    rate = sent.submitted_rate
    ctx["bulk_rate"] = rate
    return {
        "receivers_per_s": rate,
        "accepted_receivers_per_s": sent.messages / sent.result.elapsed,
        "gateway_cpu_cores": sent.worker_cores,
    }


def receipts(target: SmscTarget, sizes: Sizes, ctx: dict[str, Any]) -> Figures:
    """Bulk at the scenario-3 rate with receipts on: callbacks/s and receipt->callback."""
    if not target.bundled:
        raise RuntimeError("needs the bundled simulator (submit times for the latency)")
    rate = ctx.get("bulk_rate", 0.0)
    total = sizes.receipt_calls * sizes.per_call
    with running_stack(target, receipts=True) as stack:
        spec = LoadSpec(
            port=stack.gateway.port,
            path="/smsbulk",
            count=sizes.receipt_calls,
            connections=2,
            procs=1,
            per_call=sizes.per_call,
            rate=rate / sizes.per_call,
            time_limit=sizes.deadline(total),
        )
        cpu = stack.worker_cpu()
        result = run_load(spec)
        expected = result.ok * sizes.per_call
        stack.receiver.wait_for_count(expected, timeout=sizes.deadline(expected))
        cores = (stack.worker_cpu() - cpu) / (time.time() - result.start)
        submits = _submit_times(stack)
        callbacks = stack.receiver.records()
    return {**_receipt_figures(submits, callbacks), "gateway_cpu_cores": cores}


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


def _receipt_figures(submits: dict[str, float], callbacks: list[tuple[str, float]]) -> Figures:
    latencies = [at - submits[rx] - RECEIPT_DELAY for rx, at in callbacks if rx in submits]
    if not latencies:
        raise RuntimeError("no callback matched a submit_sm (receiver numbers differ?)")
    cb_times = sorted(at for _rx, at in callbacks)
    sub_times = sorted(submits.values())
    cb_rate = len(cb_times) / max(cb_times[-1] - cb_times[0], 1e-3)
    sub_rate = len(sub_times) / max(sub_times[-1] - sub_times[0], 1e-3)
    return {
        "callbacks_per_s": cb_rate,
        "submits_per_s": sub_rate,
        "callbacks_to_submits": cb_rate / sub_rate,
        "latency_p50_ms": ms(max(percentile(latencies, 50), 1e-6)),
        "latency_p99_ms": ms(max(percentile(latencies, 99), 1e-6)),
    }

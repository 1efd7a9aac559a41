"""One load phase against a running daemon: send, then wait until the SMSC saw every
submit_sm and the receiver every callback; what it cost the processes meanwhile.

End to end is "first request -> last callback": a message counts as done when its
DELIVERED callback has arrived, so a gateway that accepts fast but lets callbacks pile up
is not credited with the accept rate.
"""

from __future__ import annotations

import resource
import threading
import time
from dataclasses import dataclass, field

from bench import procs
from bench.common import wait_submitted
from bench.loadgen import LoadResult, LoadSpec, run_load
from bench.sizes import Sizes
from bench.stack import Stack

SPREAD_SAMPLES = 500  # at most 5 s of sampling per load


def own_cpu() -> float:
    """CPU seconds of this process: the webhook receiver's thread and the polling."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def reaped_cpu() -> float:
    """CPU seconds of this process's children that ended: the load generator's
    processes, start-up included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_sample(stack: Stack) -> dict[str, float]:
    """CPU seconds so far of each party to a phase, and of the whole machine."""
    return {
        "gateway": stack.worker_cpu(),
        "simulator": stack.sim_cpu(),
        "receiver": own_cpu(),
        "loadgen": reaped_cpu(),
        "machine": procs.machine_busy(),
    }


@dataclass
class Phase:
    """A load, when its last submit_sm and its last callback were seen, and CPU seconds."""

    result: LoadResult
    messages: int  # accepted requests x receivers per request
    submitted_at: float  # time.time() the SMSC had seen every submit_sm
    delivered_at: float  # time.time() of the last callback (submitted_at without callbacks)
    cpu: dict[str, float]  # cpu_sample's parties -> CPU seconds meanwhile
    sampled_from: float  # time.time() the CPU seconds were first read (before the load)
    measured_until: float  # time.time() they were read again
    callbacks: list[tuple[str, float]] = field(default_factory=list)  # (receiver, arrival)
    spread: list[int] = field(default_factory=list)  # connections per HTTP worker

    def _span(self, until: float) -> float:
        return max(until - self.result.start, 1e-9)

    @property
    def end_to_end_rate(self) -> float:
        """Messages per second from the first request to the last callback."""
        return self.messages / self._span(self.delivered_at)

    @property
    def submitted_rate(self) -> float:
        """Messages per second from the first request to the SMSC's last submit_sm."""
        return self.messages / self._span(self.submitted_at)

    @property
    def accepted_rate(self) -> float:
        """Messages accepted per second of the load itself (HTTP side only)."""
        return self.messages / self.result.elapsed

    def cores(self, who: str) -> float:
        """CPU seconds of `who` per wall second over the whole phase."""
        return self.cpu[who] / self._span(self.measured_until)

    @property
    def loadgen_cores(self) -> float:
        """The load generator's CPU while it sent (its start-up not counted)."""
        return self.result.cpu_seconds / self.result.elapsed

    @property
    def other_cores(self) -> float:
        """What the rest of the machine used meanwhile: busy CPU less the bench's own
        processes (daemon, simulator, load generator, this process)."""
        ours = sum(v for k, v in self.cpu.items() if k != "machine")
        window = max(self.measured_until - self.sampled_from, 1e-9)
        return max(0.0, self.cpu["machine"] - ours) / window

    @property
    def busiest_worker(self) -> float:
        return float(max(self.spread, default=0))


class SpreadWatch:
    """Samples, while a load runs, how its connections landed on the HTTP workers."""

    def __init__(self, pids: list[int], port: int, connections: int) -> None:
        self._pids, self._port, self._connections = pids, port, connections
        self._stop = threading.Event()
        self.spread: list[int] = []
        self._thread = threading.Thread(target=self._watch, name="spread", daemon=True)

    def __enter__(self) -> SpreadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        """Until every connection is accepted by some worker, the load is over, or
        SPREAD_SAMPLES were taken (reading /proc costs the bench process CPU)."""
        for _ in range(SPREAD_SAMPLES):
            if self._stop.wait(0.01):  # sampling interval
                return
            spread = procs.connection_spread(self._pids, self._port)
            if sum(spread) >= sum(self.spread):
                self.spread = spread
            if sum(spread) >= self._connections:
                return


def run_phase(stack: Stack, spec: LoadSpec, sizes: Sizes, callbacks: bool = True) -> Phase:
    """Run `spec`, wait for every submit_sm and (with `callbacks`) every callback."""
    before_submits, before_callbacks = stack.submitted(), stack.receiver.count
    cpu0, sampled_from = cpu_sample(stack), time.time()
    with SpreadWatch(stack.pids(), stack.port, spec.connections) as watch:
        result = run_load(spec)
    if result.ok == 0:
        raise RuntimeError(f"no request accepted ({result.errors} errors)")
    messages = result.ok * spec.per_call
    deadline = sizes.deadline(messages)
    submitted_at = wait_submitted(stack, before_submits + messages, deadline)
    delivered_at, records = submitted_at, []
    if callbacks:
        stack.receiver.wait_for_count(before_callbacks + messages, deadline)
        records = stack.receiver.records()[before_callbacks:]
        delivered_at = max(at for _rx, at in records)
    cpu1 = cpu_sample(stack)
    return Phase(
        result=result,
        messages=messages,
        submitted_at=submitted_at,
        delivered_at=delivered_at,
        cpu={k: cpu1[k] - cpu0[k] for k in cpu0},
        sampled_from=sampled_from,
        measured_until=time.time(),
        callbacks=records,
        spread=watch.spread,
    )

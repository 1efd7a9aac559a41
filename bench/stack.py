"""Start and stop what one scenario run needs: SMSC, daemon, webhook receiver.

Every run gets a fresh stack (new SQLite store, new simulator counters) so runs do not
leak backlog or receipts into each other. The daemon runs with its production defaults
except where a scenario needs otherwise (GatewayProcess's test-friendly reconnect and
timeout values are undone here, so recovery times are the ones users would see).
"""

from __future__ import annotations

import os
import re
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.receiver import FastReceiver
from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.simulator import SimulatorProcess

FORBIDDEN_HOSTS = ("smpp.mitto.ch",)
RECEIPT_DELAY = 0.1  # seconds the simulator waits before a receipt; subtracted in latency

# Production defaults that GatewayProcess overrides for fast tests.
PRODUCTION_SMPP = {
    "reconnect_min_delay": 1.0,
    "reconnect_max_delay": 60.0,
    "retry_min_delay": 1.0,
    "retry_max_delay": 60.0,
    "response_timeout": 10.0,
}


@dataclass(frozen=True)
class SmscTarget:
    """Where the gateway and the ceiling client bind; `host is None` = bundled simulator."""

    host: str | None = None
    port: int = 2775
    system_id: str = "smppclient"
    password: str = "password"
    window: int = 10
    sessions: int = 1

    @property
    def bundled(self) -> bool:
        return self.host is None

    def check(self) -> None:
        """Refuse production SMSCs: a benchmark there would send real, billed SMS."""
        if self.host and any(self.host.lower().endswith(h) for h in FORBIDDEN_HOSTS):
            raise SystemExit(f"refusing to benchmark against {self.host}")


@dataclass
class Stack:
    """A running SMSC (maybe bundled), daemon and receiver."""

    target: SmscTarget
    gateway: GatewayProcess
    receiver: FastReceiver
    sim: SimulatorProcess | None
    smsc_port: int
    extra: dict[str, Any] = field(default_factory=dict)

    def submitted(self) -> int:
        """submit_sm seen by the SMSC (simulator stats), else accepted per the daemon."""
        if self.sim is not None:
            return int(self.sim.stats()["submit_sm"])
        return int(metric(self.gateway, "smpp_gateway_segments_submitted_total"))

    def pids(self) -> list[int]:
        """The daemon's processes: the master and its children (HTTP workers, engine,
        dispatcher; gateway/server.py)."""
        assert self.gateway.proc is not None
        master = self.gateway.proc.pid
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        return [master, *map(int, children)]

    def worker_cpu(self) -> float:
        """CPU seconds every process of the daemon used so far: with wall time, tells
        CPU- from wait-bound (2.0 per second is both cores busy)."""
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss_kib(self, field: str = "VmRSS") -> int:
        """Resident memory of every process of the daemon together (`field`: VmRSS now,
        VmHWM each process's peak, summed)."""
        return sum(memory_kib(pid)[field] for pid in self.pids())

    def ready(self) -> bool:
        try:
            return self.gateway.get("/readyz").status == 200
        except OSError:
            return False


def gateway_sections(target: SmscTarget, callback_url: str, **extra: dict[str, Any]) -> dict:
    """Config sections for the daemon: production defaults plus bench plumbing."""
    sections: dict[str, dict[str, Any]] = {
        "http": {"threads": 32, "graceful_timeout": 5.0, "bulk_max_receivers": 10_000},
        "smpp": {
            **PRODUCTION_SMPP,
            "system_id": target.system_id,
            "window": target.window,
            "sessions": target.sessions,
            "stop_grace": 2.0,
        },
        "webhooks": {"default_callback_url": callback_url, "notify_statuses": ["DELIVERED"]},
    }
    if target.host:
        sections["smpp"]["host"] = target.host
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    return sections


@contextmanager
def running_stack(
    target: SmscTarget, receipts: bool = False, **gateway_extra: dict
) -> Iterator[Stack]:
    """Simulator + receiver + daemon, torn down in reverse order.

    Receipts are off unless asked for: scenarios 2, 3, 5 and 6 measure the send path
    alone; scenario 4 turns them on to see whether callbacks keep up with the sends.
    """
    with ExitStack() as stack:
        sim = None
        port = target.port
        if target.bundled:
            options = {"receipt_delay": RECEIPT_DELAY if receipts else -1, "max_sessions": 16}
            sim = stack.enter_context(SimulatorProcess(**options))
            port = sim.port
        receiver = stack.enter_context(FastReceiver())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        sections = gateway_sections(target, receiver.url("/cb"), **gateway_extra)
        env = {"SMPP_GATEWAY_SMPP_PASSWORD": target.password}
        gateway = stack.enter_context(GatewayProcess(workdir, port, extra_env=env, **sections))
        yield Stack(target, gateway, receiver, sim, port)


def metric(gateway: GatewayProcess, name: str) -> float:
    """Sum of one Prometheus series (all label sets) from GET /metrics."""
    request = urllib.request.Request(gateway.base_url + "/metrics")
    request.add_header("X-Mitto-API-Key", API_KEY)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak resident) of a process, from /proc (Linux)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def cpu_seconds(pid: int) -> float:
    """utime+stime of one process (all threads), from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

"""Start and stop what one scenario run needs: SMSC, daemon, webhook receiver, bare app.

Every run gets a fresh stack (new store, new simulator counters) so runs do not leak
backlog or receipts into each other. The daemon runs with its production defaults
except where a scenario needs otherwise (GatewayProcess's test-friendly reconnect and
timeout values are undone here, so recovery times are the ones users would see).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procs
from bench.bare_app import READY_LINE
from bench.receiver import FastReceiver
from gateway.testing.process import API_KEY, GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import free_port, wait_for

FORBIDDEN_HOSTS = ("smpp.mitto.ch",)
RECEIPT_DELAY = 0.1  # seconds the simulator waits before a receipt; subtracted in latency
HTTP_THREADS = 32  # http.threads of the daemon and --threads of the bare app
ROOT = Path(__file__).resolve().parent.parent

# Production defaults that GatewayProcess overrides for fast tests.
PRODUCTION_SMPP = {
    "reconnect_min_delay": 1.0,
    "reconnect_max_delay": 60.0,
    "retry_min_delay": 1.0,
    "retry_max_delay": 60.0,
    "response_timeout": 10.0,
}


def http_workers() -> int:
    """http.workers 0 means one per CPU core; the bare app gets the same count."""
    return os.cpu_count() or 1


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

    @property
    def port(self) -> int:
        return self.gateway.port

    def submitted(self) -> int:
        """submit_sm seen by the SMSC (simulator stats), else accepted per the daemon."""
        if self.sim is not None:
            return int(self.sim.stats()["submit_sm"])
        return int(metric(self.gateway, "smpp_gateway_segments_submitted_total"))

    def pids(self) -> list[int]:
        """The daemon's processes: the master and its children (HTTP workers, engine,
        dispatcher; gateway/server.py)."""
        assert self.gateway.proc is not None
        return procs.tree_pids(self.gateway.proc.pid)

    def roles(self) -> dict[str, list[int]]:
        """Role name (master, http, engine, dispatcher) -> its pids (ready markers)."""
        assert self.gateway.proc is not None
        found = {"master": [self.gateway.proc.pid]}
        for role, pids in self.gateway.pids().items():
            found[role] = sorted(pids)
        return found

    def worker_cpu(self) -> float:
        """CPU seconds every process of the daemon used so far: with wall time, tells
        CPU- from wait-bound (2.0 per second is both cores busy)."""
        return sum(procs.cpu_seconds(pid) for pid in self.pids())

    def sim_cpu(self) -> float:
        """CPU seconds of the bundled simulator so far (0 for another SMSC)."""
        if self.sim is None or self.sim.proc is None:
            return 0.0
        return procs.cpu_seconds(self.sim.proc.pid)

    def rss_kib(self, field: str = "VmRSS") -> int:
        """Resident memory of every process of the daemon together (`field`: VmRSS now,
        VmHWM each process's peak, summed)."""
        return sum(procs.memory_kib(pid)[field] for pid in self.pids())

    def pss_kib(self) -> int:
        """Proportional set size of the daemon's processes together (shared pages once)."""
        return sum(procs.pss_kib(pid) for pid in self.pids())

    def ready(self) -> bool:
        try:
            return self.gateway.get("/readyz").status == 200
        except OSError:
            return False


def gateway_sections(target: SmscTarget, callback_url: str, **extra: dict[str, Any]) -> dict:
    """Config sections for the daemon: production defaults plus bench plumbing."""
    sections: dict[str, dict[str, Any]] = {
        "http": {
            "workers": 0,
            "threads": HTTP_THREADS,
            "graceful_timeout": 5.0,
            "bulk_max_receivers": 10_000,
        },
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
    target: SmscTarget,
    receipts: bool = True,
    sim_options: dict[str, Any] | None = None,
    **gateway_extra: dict,
) -> Iterator[Stack]:
    """Simulator + receiver + daemon, torn down in reverse order.

    Receipts (RECEIPT_DELAY after each submit_sm_resp, one DELIVERED callback each) are
    on unless a scenario measures the send path alone (backlog, recovery, idle).
    `sim_options` are more simulator flags (a response delay, a throttle rate).
    `gateway_extra` adds config sections, e.g. store={"url": ...} for PostgreSQL.
    """
    with ExitStack() as stack:
        sim = None
        port = target.port
        if target.bundled:
            options = {"receipt_delay": RECEIPT_DELAY if receipts else -1, "max_sessions": 16}
            sim = stack.enter_context(SimulatorProcess(**options, **(sim_options or {})))
            port = sim.port
        receiver = stack.enter_context(FastReceiver())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-")))
        sections = gateway_sections(target, receiver.url("/cb"), **gateway_extra)
        env = {"SMPP_GATEWAY_SMPP_PASSWORD": target.password}
        gateway = stack.enter_context(GatewayProcess(workdir, port, extra_env=env, **sections))
        wait_serving(gateway, http_workers())
        yield Stack(target, gateway, receiver, sim, port)


def wait_serving(gateway: GatewayProcess, workers: int, timeout: float = 20.0) -> None:
    """Until every HTTP worker serves: keep-alive connections opened before the last one
    is up would all stay on the first ones."""
    wait_for(
        lambda: len(gateway.pids().get("http", ())) >= workers,
        timeout,
        interval=0.02,
        what="HTTP workers",
    )


def metric(gateway: GatewayProcess, name: str) -> float:
    """Sum of one Prometheus series (all label sets) from GET /metrics."""
    request = urllib.request.Request(gateway.base_url + "/metrics")
    request.add_header("X-Mitto-API-Key", API_KEY)
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    pattern = re.compile(rf"^{re.escape(name)}(?:{{[^}}]*}})? ([0-9.e+-]+)$", re.M)
    return sum(float(v) for v in pattern.findall(text))


@dataclass
class BareApp:
    """bench/bare_app.py as a subprocess: gunicorn master + `workers` workers."""

    proc: subprocess.Popen[bytes]
    port: int

    def pids(self) -> list[int]:
        return procs.tree_pids(self.proc.pid)

    def cpu(self) -> float:
        return sum(procs.cpu_seconds(pid) for pid in self.pids())


@contextmanager
def running_bare_app() -> Iterator[BareApp]:
    """The bare Flask app with the daemon's worker class, worker count and threads."""
    port = free_port()
    cmd = [sys.executable, "-m", "bench.bare_app", "--port", str(port)]
    cmd += ["--workers", str(http_workers()), "--threads", str(HTTP_THREADS)]
    with tempfile.TemporaryFile(prefix="bare-app-") as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_for(lambda: _bare_up(proc, port, log), 20, interval=0.05, what="bare app")
            yield BareApp(proc, port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=10)


def _bare_up(proc: subprocess.Popen[bytes], port: int, log: Any) -> bool:
    """Every worker serving; a bare app that exited is an error with its log."""
    log.seek(0)
    if proc.poll() is not None:
        raise RuntimeError(f"bare app exited with {proc.returncode}: {log.read()[-2000:]!r}")
    ready = log.read().decode(errors="replace").count(READY_LINE)
    return procs.listeners(port) >= 1 and ready >= http_workers()

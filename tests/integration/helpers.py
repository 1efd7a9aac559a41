"""Small helpers shared by the integration tests."""

from __future__ import annotations

from typing import Any

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for


def all_submits(sim: SimulatorProcess) -> list[dict[str, Any]]:
    """Every submit_sm the simulator recorded (it pages its answers)."""
    records: list[dict[str, Any]] = []
    while True:
        page = sim.submits(since=len(records))
        if not page:
            return records
        records.extend(page)


def wait_submits(sim: SimulatorProcess, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    return wait_for(
        lambda: (subs := all_submits(sim)) and len(subs) >= count and subs,
        timeout=timeout,
        what=f"{count} submit_sm at the simulator",
    )


def receivers(n: int, base: int = 4179_000_0000) -> list[str]:
    return [str(base + i) for i in range(n)]


def assert_worker_unharmed(gateway: GatewayProcess) -> None:
    """After hostile traffic: no traceback in the log, /healthz answers, and the HTTP
    workers are the ones that started (one that died would be replaced: one more "ready"
    line)."""
    log = gateway.log()
    assert "Traceback" not in log, log[
        log.index("Traceback") - 2000 : log.index("Traceback") + 3000
    ]
    assert gateway.get("/healthz").status == 200
    ready = [line for line in log.splitlines() if "worker" in line and "ready on" in line]
    booted = [line for line in log.splitlines() if "Booting worker" in line]
    workers = len(gateway.pids()["http"])
    assert len(ready) == workers and len(booted) == workers, ready + booted

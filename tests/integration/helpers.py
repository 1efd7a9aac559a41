"""Small helpers shared by the integration tests."""

from __future__ import annotations

from typing import Any

from tests.simctl import SimulatorProcess
from tests.waiting import wait_for


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

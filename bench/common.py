"""Helpers shared by the scenarios: waiting on the SMSC's count, percentiles."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bench.stack import Stack
from gateway.testing.waiting import wait_for

Figures = dict[str, float]


class Unavailable(Exception):
    """A scenario that cannot run here (no PostgreSQL server, not the bundled simulator):
    reported as "not run: <why>", not as a failed run."""


def wait_submitted(stack: Stack, total: int, timeout: float) -> float:
    """Wait until the SMSC has seen `total` submit_sm; returns time.time() when seen."""
    wait_for(lambda: stack.submitted() >= total, timeout, interval=0.005, what=f"{total} submits")
    return time.time()


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)

"""Exponential backoff with half jitter, shared by reconnects and submit retries."""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    attempt: int,
    min_delay: float,
    max_delay: float,
    rand: Callable[[], float] = random.random,
) -> float:
    """Delay before try number `attempt` (1-based): capped doubling, jittered into [0.5x, 1x].

    Half jitter keeps a floor under the delay (a throttling SMSC is not hammered by an
    unlucky near-zero draw) while still spreading sessions that failed together.
    """
    ceiling = min(max_delay, min_delay * (2 ** max(0, attempt - 1)))
    return ceiling * (0.5 + 0.5 * rand())

"""Waiting on conditions with a deadline: the only synchronisation the tests use."""

from __future__ import annotations

import itertools
import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02, what: str = ""
) -> T:
    """Poll `condition` until it returns something truthy; fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or condition!r}: {last!r}")


# Ports for servers a test starts itself: below the kernel's ephemeral range (32768 and up
# by default, where bind(0) and outgoing connections take theirs), one block per
# pytest-xdist worker, so tests running in parallel never pick the same port between
# choosing it and binding it; within a process they are handed out in turn from a random
# start, so two asked for one after the other (a daemon and its metrics listener) differ.
PORT_BASE = 20000
PORT_BLOCK = 1500  # ports per xdist worker; 8 blocks end below 32768
_next_port = itertools.count(random.randrange(PORT_BLOCK))  # the only state: see above


def free_port() -> int:
    """A port on 127.0.0.1 that nothing holds now, from this test process's own block."""
    import socket

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    low = PORT_BASE + (int(worker) if worker.isdigit() else 0) % 8 * PORT_BLOCK
    for _ in range(100):
        port = low + next(_next_port) % PORT_BLOCK
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {low}..{low + PORT_BLOCK}")

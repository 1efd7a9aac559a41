"""Whether the store takes writes, and the asynchronous writes waiting until it does.

Why: when the store fails (disk full, I/O error, lost connection) the writer (writer.py)
must refuse callers at once, keep the asynchronous writes in memory in order, retry with
backoff, and tell the operator once when an outage starts, now and then while it lasts,
and once when it ends. That bookkeeping is kept here, apart from the thread loop, so it
is tested with clock values alone.

Only a committed probe (a real one-page write) makes the store healthy again, since an
empty or read-only transaction commits even on a full disk. Retries back off from
`retry_min_delay`, doubling, to `retry_max_delay`: the longest a recovered store may go
unnoticed while idle. Only the writer thread changes this state; other threads read it.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from gateway.store.base import StoreError
from gateway.store.writer_queue import Item

log = logging.getLogger("gateway.store")

RETRY_MIN_DELAY = 0.05  # seconds before the first retry after a store failure
RETRY_MAX_DELAY = 1.0  # backoff cap: also how long a recovered store may go unnoticed
REPORT_EVERY = 30.0  # seconds between "still failing" log lines


class Health:
    """The store's write health, the backoff of the next retry, and the backlog."""

    def __init__(
        self,
        retry_min_delay: float = RETRY_MIN_DELAY,
        retry_max_delay: float = RETRY_MAX_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry_min_delay = retry_min_delay
        self.retry_max_delay = max(retry_min_delay, retry_max_delay)
        self._clock = clock
        self.healthy = False  # a probe committed since the last store failure
        self.backlog: deque[Item] = deque()  # asynchronous ops waiting for the store
        self.failures = 0  # transactions failed by the store, since the start
        self.last_error = ""
        self.retry_at = 0.0  # when the backlog is tried again (clock time)
        self._retry_delay = 0.0
        self._failing_since: float | None = None
        self._next_report = 0.0

    @property
    def failing(self) -> bool:
        """New writes must wait: the store failed, or older writes are still unrecorded."""
        return not self.healthy or bool(self.backlog)

    def retry_due(self) -> bool:
        return self._clock() >= self.retry_at

    def wait_time(self, poll: float) -> float:
        """How long the writer may wait for new work before it must retry."""
        if not self.failing:
            return poll
        return min(poll, max(0.0, self.retry_at - self._clock()))

    def refusal(self) -> StoreError:
        """What a caller hears while the store is failing."""
        return StoreError(self.last_error or "the store cannot commit")

    def failed(self, step: str, exc: Exception) -> StoreError:
        """Mark unhealthy, schedule the next retry (doubling), log once per outage."""
        now = self._clock()
        self.failures += 1
        self.healthy = False
        self.last_error = f"store {step} failed: {exc}"
        self._retry_delay = min(
            self.retry_max_delay, max(self.retry_min_delay, self._retry_delay * 2)
        )
        self.retry_at = now + self._retry_delay
        if self._failing_since is None:
            self._failing_since = now
            self._next_report = now + REPORT_EVERY
            log.error(
                "%s; refusing writes, keeping asynchronous ones in memory and retrying",
                self.last_error,
            )
        elif now >= self._next_report:
            self._next_report = now + REPORT_EVERY
            log.warning(
                "store still failing after %.0f s (%s); %d asynchronous writes wait",
                now - self._failing_since,
                self.last_error,
                len(self.backlog),
            )
        error = StoreError(self.last_error)
        error.__cause__ = exc
        return error

    def recovered(self, landed: int) -> None:
        """A real write committed: healthy again (logged once per outage)."""
        self.healthy = True
        self._retry_delay = 0.0
        if self._failing_since is not None:
            log.warning(
                "store writable again after %.1f s (%d failed attempts so far); recording"
                " %d asynchronous writes kept in memory",
                self._clock() - self._failing_since,
                self.failures,
                landed + len(self.backlog),
            )
            self._failing_since = None

    def log_unrecorded(self) -> None:
        """At the end: what the store never took, one line per operation, by label."""
        if not self.backlog:
            return
        log.error(
            "stopping with %d asynchronous writes not recorded (%s); their messages stay"
            " as they were in the store and are submitted again at the next start",
            len(self.backlog),
            self.last_error,
        )
        while self.backlog:
            log.error("not recorded: %s", self.backlog.popleft().label)

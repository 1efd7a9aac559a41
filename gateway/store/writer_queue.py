"""The store writer's queue, and which queued operations go into one transaction.

Why: group commit is a policy about a queue, not about a database. The writer thread
(writer.py) takes the first queued operation and whatever is queued behind it, up to
`max_batch`; it waits up to `max_delay` for more only while the batch is smaller than
the last commit, which shows how many callers are active, so a lone caller never waits.
Kept apart from the thread loop so the policy is tested with a queue alone (no thread,
no database), and so that an operation's Future is settled in one place.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("gateway.store")

Op = Callable[[Any], Any]

STOP = object()  # queued by stop(): everything queued before it is still committed


@dataclass(eq=False)
class Item:
    """One queued operation; `future` is None for an asynchronous one."""

    fn: Op
    label: str
    future: Future[Any] | None
    probe: bool = False  # the writer's health probe (writer_health.py), not traffic

    def take(self) -> bool:
        """Claim it for running; False when its caller cancelled it (timed out first)."""
        return self.future is None or self.future.set_running_or_notify_cancel()

    def resolve(self, result: Any) -> None:
        """It committed: its caller, if one waits, gets the value."""
        if self.future is not None:
            with contextlib.suppress(InvalidStateError):
                self.future.set_result(result)

    def fail(self, exc: BaseException) -> None:
        """It failed by itself, or cannot run: the caller hears it; an asynchronous one
        has no caller, so it is logged as not recorded."""
        if self.future is not None:
            log.warning("store operation %s failed: %s", self.label, exc)
            with contextlib.suppress(InvalidStateError):  # cancelled meanwhile by its caller
                self.future.set_exception(exc)
        else:
            log.error("asynchronous store operation %s failed, not recorded: %s", self.label, exc)

    def refuse(self, error: BaseException) -> None:
        """The store is failing: a waiting caller hears it now (asynchronous operations
        are kept instead, see writer_health.py)."""
        assert self.future is not None
        log.debug("store operation %s refused: %s", self.label, error)
        with contextlib.suppress(InvalidStateError):
            self.future.set_exception(error)


class WriteQueue:
    """A bounded FIFO of Items (and one STOP), drained in batches."""

    def __init__(self, max_batch: int, max_delay: float, size: int) -> None:
        self.max_batch = max(1, max_batch)
        self.max_delay = max_delay
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)
        self._last_batch = 0  # operations in the last commit

    def put(self, item: Item, timeout: float) -> None:
        """Queue an operation; raises queue.Full after `timeout`."""
        self._queue.put(item, timeout=timeout)

    def put_stop(self, timeout: float) -> None:
        """Queue the STOP marker; raises queue.Full after `timeout`."""
        self._queue.put(STOP, timeout=timeout)

    def get(self, timeout: float) -> Any:
        """The next Item or STOP, or None after `timeout`."""
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            return None

    def committed(self, operations: int) -> None:
        """A transaction of `operations` (probes not counted) committed."""
        self._last_batch = operations

    def gather(self, first: Any) -> tuple[list[Item], bool]:
        """The first item plus whatever is queued, up to max_batch; True if STOP was met."""
        batch: list[Item] = []
        item, deadline = first, None
        while True:
            if item is STOP:
                return batch, True
            if item.take():
                batch.append(item)  # (a cancelled one timed out before we got to it)
            if len(batch) >= self.max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
                continue
            except queue.Empty:
                pass
            if not self._linger(len(batch)):
                return batch, False
            deadline = deadline or time.monotonic() + self.max_delay
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return batch, False

    def grow(self, batch: list[Item]) -> None:
        """Move what is queued now into `batch`, up to max_batch; a STOP goes back to the
        end of the queue (everything queued before it is in the batch)."""
        while len(batch) < self.max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is STOP:
                self._queue.put(item)
                return
            if item.take():
                batch.append(item)

    def _linger(self, size: int) -> bool:
        """Wait (up to max_delay) for more only while this batch is smaller than the last
        one: the last commit shows how many callers are active. A lone caller (the idle
        case) never waits, and a batch stops waiting as soon as it has caught up."""
        return self.max_delay > 0 and size < self._last_batch

    def leftovers(self) -> Iterator[Item]:
        """Take what is still queued once nobody will run it (STOP and operations their
        callers cancelled left out)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not STOP and not (item.future and item.future.cancelled()):
                yield item

"""The engine's ready queue and retry schedule: small, thread-safe, every wait bounded."""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class ReadyQueue(Generic[T]):
    """FIFO of work ready for a session; retries go to the front.

    Its size is bounded by the feeder, which claims from the store only while the queue is
    below its low-water mark; retries only return work that was already counted.
    """

    def __init__(self) -> None:
        self._items: deque[T] = deque()
        self._cond = threading.Condition()

    def __len__(self) -> int:
        return len(self._items)

    def put_many(self, items: Iterable[T]) -> None:
        """Append items; waiters wake only when something was added (no idle ping-pong)."""
        with self._cond:
            before = len(self._items)
            self._items.extend(items)
            if len(self._items) > before:
                self._cond.notify_all()

    def put_front(self, item: T) -> None:
        with self._cond:
            self._items.appendleft(item)
            self._cond.notify()

    def take(self, limit: int, timeout: float) -> list[T]:
        """Up to `limit` items; waits at most `timeout` for the first one."""
        with self._cond:
            if not self._items:
                self._cond.wait(timeout)
            taken: list[T] = []
            while self._items and len(taken) < limit:
                taken.append(self._items.popleft())
            return taken

    def drain(self) -> list[T]:
        """Everything queued, now; a thread waiting in take returns at once (at a stop,
        a session's writer then notices it is draining without waiting out its poll)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._cond.notify_all()
            return items


class RetrySchedule(Generic[T]):
    """Items due at a time; a thread moves them to the ready queue when due."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._clock = clock

    def __len__(self) -> int:
        return len(self._heap)

    def add(self, item: T, delay: float) -> None:
        with self._cond:
            heapq.heappush(self._heap, (self._clock() + delay, next(self._counter), item))
            self._cond.notify()

    def take_due(self, timeout: float) -> list[T]:
        """Items whose time has come; waits up to `timeout` for the next one."""
        with self._cond:
            now = self._clock()
            if not self._heap or self._heap[0][0] > now:
                wait = timeout if not self._heap else min(timeout, self._heap[0][0] - now)
                self._cond.wait(max(0.0, wait))
                now = self._clock()
            due = []
            while self._heap and self._heap[0][0] <= now:
                due.append(heapq.heappop(self._heap)[2])
            return due

    def drain(self) -> list[T]:
        """Everything scheduled, now; a thread waiting in take_due returns at once."""
        with self._cond:
            items = [entry[2] for entry in self._heap]
            self._heap.clear()
            self._cond.notify_all()
            return items

"""The worker's deadlines: which connections' deadlines have passed, soonest first.

Why: every connection has one deadline at a time (connection.py), and it moves often
(first byte, request served, lingering). A heap with lazy deletion keeps each move at
O(log n): a moved deadline is filed again and its old entry, no longer equal to the
item's `deadline`, is skipped when it comes up, and dropped in bulk once outdated entries
outnumber the live ones. No clock and no sockets here: times are given.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar


class Timed(Protocol):
    deadline: float  # math.inf: none (its entries are outdated)


T = TypeVar("T", bound=Timed)

SLACK = 64  # outdated entries tolerated besides two per live item


class Deadlines(Generic[T]):
    """Items filed by their `deadline`; an item appears once however often it is filed."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, T]] = []
        self._order = itertools.count()  # ties: filing order (items need not compare)

    def __len__(self) -> int:
        """Entries held, outdated ones included."""
        return len(self._heap)

    def file(self, item: T, live: int) -> None:
        """File `item` under its current deadline; `live`: how many items are in use, to
        decide when outdated entries are dropped."""
        heapq.heappush(self._heap, (item.deadline, next(self._order), item))
        if len(self._heap) > 2 * live + SLACK:
            self._heap = [entry for entry in self._heap if entry[0] == entry[2].deadline]
            heapq.heapify(self._heap)

    def due(self, now: float) -> Iterator[T]:
        """The items whose deadline is `now` or earlier, soonest first, each taken off the
        heap. Items may be filed again while this runs."""
        while self._heap and self._heap[0][0] <= now:
            deadline, _, item = heapq.heappop(self._heap)
            if deadline == item.deadline:
                yield item

    def wait(self, now: float) -> float | None:
        """Seconds until the soonest entry (maybe outdated: waking early is harmless), or
        None when there is none."""
        return max(0.0, self._heap[0][0] - now) if self._heap else None

"""Several writer threads for one PostgreSQL store, each with its own connection.

Why: SQLite allows one writer, so the SQLite store has one. PostgreSQL commits
concurrent transactions in parallel, and a daemon's writes are bound by round trips
(each statement waits for the server), not by a file lock; several connections overlap
those waits. The advisory-lock prelude (locks.py) that keeps two daemons'
transactions from deadlocking works the same between two writers of one daemon.

Order still matters for one message: its submit_sm_resp must be recorded before it is
marked sent. So operations on a message go to the writer its id hashes to; operations
without such an order (accepts, claims, receipts, outbox) go round-robin.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable

from gateway.store.writer import Writer


class Writers:
    def __init__(self, make: Callable[[int], Writer], count: int) -> None:
        self.all = [make(i) for i in range(max(1, count))]
        self._next = itertools.count()

    def for_message(self, message_id: str) -> Writer:
        return self.all[zlib.crc32(message_id.encode()) % len(self.all)]

    def any(self) -> Writer:
        return self.all[next(self._next) % len(self.all)]

    def start(self) -> None:
        for writer in self.all:
            writer.start()

    def stop(self, timeout: float) -> None:
        for writer in self.all:
            writer.stop(timeout)

    def flush(self, timeout: float) -> None:
        for writer in self.all:
            writer.flush(timeout)

    @property
    def alive(self) -> bool:
        return all(w.alive for w in self.all)

    def unhealthy(self) -> list[Writer]:
        return [w for w in self.all if not w.healthy]

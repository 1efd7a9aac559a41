"""Durable storage. The only package that speaks SQL; the rest sees `Store` (base.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from gateway.store.base import Store, StoreError
from gateway.store.sqlite_receipts import StoreHooks

__all__ = ["Store", "StoreError", "StoreHooks", "open_store"]


def open_store(
    path: str,
    *,
    commit_max_batch: int = 512,
    commit_max_delay: float = 0.002,
    on_commit: Callable[[int, float], None] | None = None,
    synchronous: str = "FULL",
    queue_size: int = 100_000,
    clock: Callable[[], float] = time.time,
    hooks: StoreHooks | None = None,
) -> Store:
    """Open (creating and migrating) the store at `path` and start its writer thread.

    `on_commit(operations, seconds)` is called after each group commit (for metrics).
    `synchronous` is SQLite's setting for the write connection: FULL (the default) makes
    every commit survive power loss, which "stored before responseCode 0" requires.
    `hooks` turn state changes and inbound messages into webhook outbox rows inside the
    same transaction (see sqlite_receipts.StoreHooks).
    Raises StoreError when the file cannot be opened or migrated.
    """
    if path.startswith(("postgres://", "postgresql://")):
        raise StoreError("the PostgreSQL backend is not available yet")
    from gateway.store.sqlite import SQLiteStore

    store = SQLiteStore(
        path,
        commit_max_batch=commit_max_batch,
        commit_max_delay=commit_max_delay,
        on_commit=on_commit,
        synchronous=synchronous,
        queue_size=queue_size,
        clock=clock,
        hooks=hooks,
    )
    return store.open()

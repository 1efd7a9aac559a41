"""The single writer thread: one connection, every write, committed in groups.

Why: SQLite allows one writer at a time, and a durable commit costs an fsync. Funnelling
all writes through one thread removes lock contention, and committing whatever is queued
as one transaction turns N fsyncs into one. Nothing here is SQLite-specific: the writer
gets a function that opens a DB-API connection and a statement that opens a transaction
(None where the driver opens one implicitly, as psycopg does).

An operation is a callable taking the connection. Synchronous callers wait on a Future
that is resolved only after the commit; asynchronous ones have no Future, so their
failures are logged (logger "gateway.store"), never dropped in silence.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from gateway.store.base import StoreError

log = logging.getLogger("gateway.store")

Op = Callable[[Any], Any]
OnCommit = Callable[[int, float], None]

_STOP = object()  # queued by stop(): everything queued before it is still committed


@dataclass(eq=False)
class _Item:
    fn: Op
    label: str
    future: Future[Any] | None


class Writer:
    """Owns the write connection and runs queued operations in group commits."""

    def __init__(
        self,
        connect: Callable[[], Any],
        *,
        name: str = "store-writer",
        max_batch: int = 512,
        max_delay: float = 0.002,
        queue_size: int = 100_000,
        begin: str | None = "BEGIN IMMEDIATE",
        on_commit: OnCommit | None = None,
        poll: float = 0.25,
        prelude: Callable[[Any, list[Op]], None] | None = None,
    ) -> None:
        self._connect = connect
        self._max_batch = max(1, max_batch)
        self._max_delay = max_delay
        self._begin_sql = begin
        self._on_commit = on_commit
        self._poll = poll
        # Runs first in every transaction with the batch's operations: PostgreSQL takes
        # the batch's advisory locks there, in one sorted order (postgres_locks.py).
        self._prelude = prelude
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._closing = threading.Event()  # no new operations
        self._abort = threading.Event()  # leave now, fail what is queued
        self._finished = threading.Event()  # the loop has ended
        self._start_error: BaseException | None = None
        self._healthy = False
        self._last_batch = 0

    # -- lifecycle -------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the thread; raises StoreError if it cannot open its connection."""
        self._thread.start()
        if not self._started.wait(timeout):
            self._abort.set()
            raise StoreError(f"store writer did not start within {timeout} s")
        if self._start_error is not None:
            raise StoreError(f"cannot open the store: {self._start_error}") from self._start_error

    def stop(self, timeout: float = 10.0) -> None:
        """Commit what is already queued, then end the thread. Idempotent."""
        if not self._closing.is_set():
            self._closing.set()
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                log.error("store writer queue full at stop; failing what is queued")
                self._abort.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("store writer did not stop within %s s", timeout)
                self._abort.set()

    @property
    def alive(self) -> bool:
        """The thread runs and takes new operations."""
        return self._thread.is_alive() and not self._closing.is_set()

    @property
    def healthy(self) -> bool:
        """Alive, and the last transaction (begin/commit) succeeded."""
        return self.alive and self._healthy

    # -- submitting ------------------------------------------------------------------

    def submit(self, fn: Op, *, label: str, wait: bool, timeout: float) -> Future[Any] | None:
        """Queue an operation; a Future when `wait`. Blocks at most `timeout` when full."""
        if self._closing.is_set():
            raise StoreError(f"{label}: the store is closed")
        item = _Item(fn, label, Future() if wait else None)
        try:
            self._queue.put(item, timeout=timeout)
        except queue.Full:
            raise StoreError(f"{label}: store queue full for {timeout} s") from None
        if self._finished.is_set():  # raced with the end of the loop: nobody will run it
            self._fail_leftovers()
        return item.future

    def call(self, fn: Op, *, label: str, timeout: float) -> Any:
        """Queue an operation and wait for its commit; any failure is a StoreError."""
        deadline = time.monotonic() + timeout
        future = self.submit(fn, label=label, wait=True, timeout=timeout)
        assert future is not None
        wait_futures([future], timeout=max(0.0, deadline - time.monotonic()))
        if not future.done():
            if future.cancel():
                raise StoreError(f"{label}: not written, the store did not reach it in {timeout} s")
            raise StoreError(f"{label}: not confirmed in {timeout} s; it may still commit")
        exc = future.exception()
        if exc is None:
            return future.result()
        raise StoreError(f"{label}: {exc}") from exc  # fresh: one error may fail a whole batch

    def flush(self, timeout: float) -> None:
        """Wait until everything queued before now has been run (queue order is FIFO)."""
        self.call(_noop, label="flush", timeout=timeout)

    # -- the thread ------------------------------------------------------------------

    def _main(self) -> None:
        try:
            conn = self._connect()
        except BaseException as exc:  # reported to start()
            self._start_error = exc
            self._finished.set()
            self._started.set()
            return
        self._healthy = True
        self._started.set()
        try:
            self._loop(conn)
        finally:
            self._finished.set()
            self._fail_leftovers()
            try:
                conn.close()
            except Exception:
                log.exception("closing the store write connection failed")

    def _loop(self, conn: Any) -> None:
        while not self._abort.is_set():
            try:
                first = self._queue.get(timeout=self._poll)
            except queue.Empty:
                continue
            batch, stop = self._gather(first)
            if batch:
                try:
                    self._execute(conn, batch)
                except Exception as exc:  # a bug here must not kill the writer
                    log.exception("store writer failed on a batch")
                    for item in batch:
                        self._settle_failure(item, StoreError(f"internal store error: {exc}"))
            if stop:
                return

    def _gather(self, first: Any) -> tuple[list[_Item], bool]:
        """The first item plus whatever is queued, up to max_batch; True if STOP was met."""
        batch: list[_Item] = []
        item, deadline = first, None
        while True:
            if item is _STOP:
                return batch, True
            if item.future is None or item.future.set_running_or_notify_cancel():
                batch.append(item)  # (a cancelled one timed out before we got to it)
            if len(batch) >= self._max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
                continue
            except queue.Empty:
                pass
            if not self._linger(len(batch)):
                return batch, False
            deadline = deadline or time.monotonic() + self._max_delay
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return batch, False

    def _linger(self, size: int) -> bool:
        """Wait (up to max_delay) for more only while this batch is smaller than the last
        one: the last commit shows how many callers are active. A lone caller (the idle
        case) never waits, and a batch stops waiting as soon as it has caught up."""
        return self._max_delay > 0 and size < self._last_batch

    def _execute(self, conn: Any, batch: list[_Item]) -> None:
        started = time.monotonic()
        try:
            if self._begin_sql:
                conn.cursor().execute(self._begin_sql)
        except Exception as exc:
            self._transaction_failed(conn, batch, "begin", exc)
            return
        try:
            if self._prelude is not None:
                self._prelude(conn, [item.fn for item in batch])
            results = [item.fn(conn) for item in batch]
        except Exception as exc:
            self._rollback(conn)
            if len(batch) == 1:
                self._settle_failure(batch[0], exc)
                return
            log.warning("a store batch of %d failed (%s); retrying one by one", len(batch), exc)
            for item in batch:
                self._execute(conn, [item])
            return
        try:
            conn.commit()
        except Exception as exc:
            self._transaction_failed(conn, batch, "commit", exc)
            return
        self._healthy = True
        self._last_batch = len(batch)
        self._report(len(batch), time.monotonic() - started)
        for item, result in zip(batch, results, strict=True):
            if item.future is not None:
                item.future.set_result(result)

    def _transaction_failed(self, conn: Any, batch: list[_Item], step: str, exc: Exception) -> None:
        """The database, not an operation, failed: fail the whole batch, mark unhealthy."""
        self._healthy = False
        self._rollback(conn)
        log.error("store %s failed for %d operations: %s", step, len(batch), exc)
        error = StoreError(f"store {step} failed: {exc}")
        error.__cause__ = exc
        for item in batch:
            self._settle_failure(item, error)

    def _settle_failure(self, item: _Item, exc: BaseException) -> None:
        if item.future is not None:
            log.warning("store operation %s failed: %s", item.label, exc)
            with contextlib.suppress(InvalidStateError):  # cancelled meanwhile by its caller
                item.future.set_exception(exc)
        else:
            log.error("asynchronous store operation %s failed, not recorded: %s", item.label, exc)

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except Exception:
            log.exception("store rollback failed")

    def _report(self, ops: int, seconds: float) -> None:
        if self._on_commit is None:
            return
        try:
            self._on_commit(ops, seconds)
        except Exception:
            log.exception("store on_commit hook failed")

    def _fail_leftovers(self) -> None:
        """Fail whatever is still queued once the loop has ended."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and not (item.future and item.future.cancelled()):
                self._settle_failure(item, StoreError(f"{item.label}: the store is closed"))


def _noop(conn: Any) -> None:
    """The flush marker: runs (and commits) after everything queued before it."""

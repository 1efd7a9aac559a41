"""A process's writer thread: one connection, every write, committed in groups.

Why: SQLite allows one writer at a time, and a durable commit costs an fsync. Funnelling
all of a process's writes through one thread removes lock contention inside the process
(between processes, the SQLite backend queues them on a file lock: `exclusive`), and
committing whatever is queued as one transaction turns N fsyncs into one. Nothing here
is SQLite-specific: the writer gets a function that opens a DB-API connection and a
statement that opens a transaction (None where the driver opens one implicitly, as
psycopg does).

An operation is a callable taking the connection. Synchronous callers wait on a Future
that is resolved only after the commit; asynchronous ones have no Future.

Two kinds of failure are told apart. An operation can fail by itself (a constraint, a
message that does not exist): only it fails, the others of its batch run again without
it, and an asynchronous one is logged (logger "gateway.store") and dropped, since running
it again would fail again. Or the store fails (BEGIN or COMMIT fails, or an operation
raises what the backend's `is_store_failure` calls a store failure: disk full, I/O
error, lost connection): then the writer is unhealthy, synchronous callers get a
StoreError at once, and asynchronous operations are kept in memory, in order, and run
again (before anything newer) with backoff until they commit. Those are the writes made
after the SMSC answered (submit results, final states) or a webhook was delivered:
dropping one would send a message or a webhook again after a restart. While unhealthy the
writer tries a real one-page write (`probe`) followed by the backlog, with backoff up to
RETRY_MAX_DELAY even when idle, and a lone probe before each new batch; only a committed
probe makes it healthy again, since an empty or read-only transaction commits even on a
full disk. At stop it keeps retrying until its stop timeout and logs, by label (which
names the ids), what it could not record.

The parts: writer_queue.py (the queue and which operations make one batch),
writer_health.py (health, backoff and the backlog of unrecorded writes); this module is
the thread that runs transactions and settles their operations.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from functools import partial
from typing import Any

from gateway.store.base import Effects, Outcome, StoreError
from gateway.store.writer_health import RETRY_MAX_DELAY, RETRY_MIN_DELAY, Health
from gateway.store.writer_queue import Item, Op, WriteQueue

log = logging.getLogger("gateway.store")

OnCommit = Callable[[int, float], None]
IsStoreFailure = Callable[[BaseException], bool]

__all__ = ["RETRY_MAX_DELAY", "RETRY_MIN_DELAY", "IsStoreFailure", "OnCommit", "Op", "Writer"]


def _never(_exc: BaseException) -> bool:
    return False


class _Outcome(enum.Enum):
    COMMITTED = "committed"
    OP_FAILED = "op_failed"  # one operation failed by itself; the rest may be fine
    STORE_FAILED = "store_failed"


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
        on_effects: Callable[[Effects], None] | None = None,
        poll: float = 0.25,
        prelude: Callable[[Any, list[Op]], None] | None = None,
        exclusive: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
        probe: Op | None = None,
        is_store_failure: IsStoreFailure = _never,
        retry_min_delay: float = RETRY_MIN_DELAY,
        retry_max_delay: float = RETRY_MAX_DELAY,
    ) -> None:
        self._connect = connect
        self._queue = WriteQueue(max_batch, max_delay, queue_size)
        self._begin_sql = begin
        self._on_commit = on_commit
        self._on_effects = on_effects
        self._poll = poll
        # Runs first in every transaction with the batch's operations: PostgreSQL takes
        # the batch's advisory locks there, in one sorted order (postgres/locks.py).
        self._prelude = prelude
        # Held around each transaction: SQLite passes a lock shared by every process
        # writing the file, so they queue in the kernel instead of in SQLite's busy loop.
        self._exclusive = exclusive
        self._probe = probe or _noop
        self._is_store_failure = is_store_failure
        self._health = Health(retry_min_delay, retry_max_delay)  # changed by the thread alone
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._closing = threading.Event()  # no new operations
        self._abort = threading.Event()  # leave now, fail what is queued
        self._finished = threading.Event()  # the loop has ended
        self._start_error: BaseException | None = None
        self._stop_deadline = float("inf")

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
        """Commit what is already queued, then end the thread. Idempotent.

        Asynchronous writes the store failed to take are retried until 80% of `timeout`
        has passed; what is still unrecorded then is logged by label."""
        if not self._closing.is_set():
            self._stop_deadline = time.monotonic() + 0.8 * timeout
            self._closing.set()
            try:
                self._queue.put_stop(timeout=timeout)
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
        """Alive, and no store failure since the last committed probe (see the module
        docstring): a failed BEGIN, COMMIT or write makes it False until a real write
        commits again."""
        return self.alive and self._health.healthy

    @property
    def unrecorded(self) -> int:
        """Asynchronous operations the store failed to commit, waiting for a retry."""
        return len(self._health.backlog)

    @property
    def failures(self) -> int:
        """Transactions that failed because the store did, since the start."""
        return self._health.failures

    # -- submitting ------------------------------------------------------------------

    def submit(self, fn: Op, *, label: str, wait: bool, timeout: float) -> Future[Any] | None:
        """Queue an operation; a Future when `wait`. Blocks at most `timeout` when full."""
        if self._closing.is_set():
            raise StoreError(f"{label}: the store is closed")
        item = Item(fn, label, Future() if wait else None)
        try:
            self._queue.put(item, timeout=timeout)
        except queue.Full:
            raise StoreError(f"{label}: store queue full for {timeout} s") from None
        if self._finished.is_set():  # raced with the end of the loop: nobody will run it
            self._fail_leftovers()
        return item.future

    def call(
        self,
        fn: Op,
        *,
        label: str,
        timeout: float,
        on_late: Callable[[Any], None] | None = None,
    ) -> Any:
        """Queue an operation and wait for its commit; any failure is a StoreError.

        `on_late(result)` is for an operation whose result must not be lost: when the
        caller stopped waiting while it was running ("it may still commit") and it then
        commits, it gets the result. It runs on the writer thread, so it may only queue."""
        deadline = time.monotonic() + timeout
        future = self.submit(fn, label=label, wait=True, timeout=timeout)
        assert future is not None
        wait_futures([future], timeout=max(0.0, deadline - time.monotonic()))
        if not future.done():
            if future.cancel():
                raise StoreError(f"{label}: not written, the store did not reach it in {timeout} s")
            if on_late is not None:
                future.add_done_callback(partial(_late, on_late, label))
            raise StoreError(f"{label}: not confirmed in {timeout} s; it may still commit")
        exc = future.exception()
        if exc is None:
            return future.result()
        raise StoreError(f"{label}: {exc}") from exc  # fresh: one error may fail a whole batch

    def flush(self, timeout: float) -> None:
        """Wait until everything queued before now has been run (queue order is FIFO).
        While the store fails this raises at once: the backlog has not been recorded."""
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
        # A store opened on a full disk starts unready (reads work, writes are refused)
        # rather than looking healthy until the first write fails.
        self._health.healthy = self._probe_commits(conn)
        self._started.set()
        try:
            self._loop(conn)
        finally:
            self._finished.set()
            self._health.log_unrecorded()
            self._fail_leftovers()
            try:
                conn.close()
            except Exception:
                log.exception("closing the store write connection failed")

    def _loop(self, conn: Any) -> None:
        while not self._abort.is_set():
            first = self._queue.get(timeout=self._health.wait_time(self._poll))
            batch, stop = self._queue.gather(first) if first is not None else ([], False)
            try:
                self._handle(conn, batch)
            except Exception as exc:  # a bug here must not kill the writer
                log.exception("store writer failed on a batch")
                for item in batch:
                    item.fail(StoreError(f"internal store error: {exc}"))
            if stop:
                self._retry_until_deadline(conn)
                return

    def _handle(self, conn: Any, batch: list[Item]) -> None:
        """Run a batch, after the backlog: nothing may overtake an unrecorded write.

        While failing, the backlog is retried when the backoff has passed, or when new
        work comes and a lone probe commits: a recovered store (or a replaced database
        connection) serves callers at once, and a failing one costs each batch one
        small write, not a replay of the whole backlog."""
        health = self._health
        if health.failing and (health.retry_due() or (batch and self._probe_commits(conn))):
            self._recover(conn)
        if health.failing:
            self._refuse(batch, health.refusal())
        elif batch:
            self._run(conn, batch)

    def _probe_commits(self, conn: Any) -> bool:
        outcome, _results = self._attempt(conn, [Item(self._probe, "probe", None, probe=True)])
        return outcome is _Outcome.COMMITTED

    # -- running batches --------------------------------------------------------------

    def _run(self, conn: Any, batch: list[Item], grow: bool = True) -> None:
        """Run new operations in one transaction; after an operation's own failure, each
        alone. A store failure refuses the rest (asynchronous ones wait in the backlog).
        `grow`: what queued while this process waited for the lock joins the batch."""
        outcome, detail = self._attempt(conn, batch, grow)
        if outcome is _Outcome.COMMITTED:
            self._settle_results(batch, detail)
        elif outcome is _Outcome.STORE_FAILED:
            self._refuse(batch, detail)
        elif len(batch) == 1:
            batch[0].fail(detail)
        else:
            log.warning("a store batch of %d failed (%s); retrying one by one", len(batch), detail)
            for index, item in enumerate(batch):
                if self._health.failing:
                    self._refuse(batch[index:], StoreError(self._health.last_error))
                    return
                self._run(conn, [item], grow=False)

    def _recover(self, conn: Any) -> None:
        """Probe plus the backlog, oldest first, in chunks, while the store commits."""
        backlog = self._health.backlog
        while True:
            chunk = list(itertools.islice(backlog, max(1, self._queue.max_batch - 1)))
            probe = Item(self._probe, "probe", None, probe=True)
            outcome, _results = self._attempt(conn, [probe, *chunk])
            if outcome is _Outcome.STORE_FAILED:
                return
            if outcome is _Outcome.OP_FAILED:  # one of them fails by itself now
                if not self._run_backlog_alone(conn, len(chunk)):
                    return
                continue  # the probe again, with what is left
            for _ in chunk:
                backlog.popleft()
            self._health.recovered(len(chunk))
            if not backlog:
                return

    def _run_backlog_alone(self, conn: Any, count: int) -> bool:
        """The first `count` backlog items, each in its own transaction; False when the
        store fails again (that item and the rest stay in the backlog, in order). Health
        is left to the probe that follows: an update of no rows commits on a full disk."""
        backlog = self._health.backlog
        for _ in range(count):
            item = backlog[0]
            outcome, detail = self._attempt(conn, [item])
            if outcome is _Outcome.STORE_FAILED:
                return False
            backlog.popleft()
            if outcome is _Outcome.OP_FAILED:
                item.fail(detail)
        return True

    def _attempt(self, conn: Any, batch: list[Item], grow: bool = False) -> tuple[_Outcome, Any]:
        """One transaction: (COMMITTED, results), (OP_FAILED, the op's exception) or
        (STORE_FAILED, a StoreError; the writer is then unhealthy, a retry scheduled).
        With `grow`, the batch (a list the caller holds) takes in what was queued by the
        time the lock is held: under contention each commit carries more."""
        started = time.monotonic()
        step, current = "begin", None
        try:
            with self._exclusive():
                if grow:
                    self._queue.grow(batch)
                try:
                    if self._begin_sql:
                        conn.cursor().execute(self._begin_sql)
                    step = "write"
                    if self._prelude is not None:
                        self._prelude(conn, [item.fn for item in batch])
                    results = []
                    for current in batch:
                        results.append(current.fn(conn))
                    step = "commit"
                    conn.commit()
                except Exception:
                    self._rollback(conn)  # before the lock passes to another process
                    raise
        except Exception as exc:
            by_store = step != "write" or self._is_store_failure(exc)
            if by_store or (current is not None and current.probe):
                return _Outcome.STORE_FAILED, self._health.failed(step, exc)
            return _Outcome.OP_FAILED, exc
        operations = sum(1 for item in batch if not item.probe)  # probes are not traffic
        if operations:
            self._queue.committed(operations)
            self._report(operations, time.monotonic() - started)
        return _Outcome.COMMITTED, [self._committed(result) for result in results]

    def _committed(self, result: Any) -> Any:
        """An operation's value, once its transaction committed; its effects (an Outcome's)
        go to `on_effects` now, exactly once however often the operation was attempted."""
        if not isinstance(result, Outcome):
            return result
        if result.effects and self._on_effects is not None:
            try:
                self._on_effects(result.effects)
            except Exception:
                log.exception("store on_effects hook failed")
        return result.value

    # -- stopping --------------------------------------------------------------------

    def _retry_until_deadline(self, conn: Any) -> None:
        """At stop: keep retrying the backlog until the stop deadline."""
        while self._health.backlog and not self._abort.is_set():
            wait = min(self._health.retry_at, self._stop_deadline) - time.monotonic()
            if wait > 0 and self._abort.wait(wait):
                return
            if time.monotonic() >= self._stop_deadline:
                return
            self._recover(conn)

    # -- settling ---------------------------------------------------------------------

    def _settle_results(self, batch: list[Item], results: list[Any]) -> None:
        for item, result in zip(batch, results, strict=True):
            item.resolve(result)

    def _refuse(self, items: list[Item], error: StoreError) -> None:
        """The store is failing: synchronous callers hear it now, asynchronous operations
        go to the end of the backlog."""
        for item in items:
            if item.future is None:
                self._health.backlog.append(item)
            else:
                item.refuse(error)

    def _rollback(self, conn: Any) -> None:
        try:
            conn.rollback()
        except Exception as exc:  # after a lost connection: the failure is logged already
            log.warning("store rollback failed: %s", exc)

    def _report(self, ops: int, seconds: float) -> None:
        if self._on_commit is None:
            return
        try:
            self._on_commit(ops, seconds)
        except Exception:
            log.exception("store on_commit hook failed")

    def _fail_leftovers(self) -> None:
        """Fail whatever is still queued once the loop has ended."""
        for item in self._queue.leftovers():
            item.fail(StoreError(f"{item.label}: the store is closed"))


def _noop(conn: Any) -> None:
    """The flush marker: runs (and commits) after everything queued before it."""


def _late(on_late: Callable[[Any], None], label: str, future: Future[Any]) -> None:
    """A committed result nobody waited for goes to `on_late` (Writer.call)."""
    if future.cancelled() or future.exception() is not None:
        return
    try:
        on_late(future.result())
    except Exception:
        log.exception("%s: handling its late result failed", label)

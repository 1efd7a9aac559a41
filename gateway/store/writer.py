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
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import Any

from gateway.store.base import Effects, Outcome, StoreError

log = logging.getLogger("gateway.store")

Op = Callable[[Any], Any]
OnCommit = Callable[[int, float], None]
IsStoreFailure = Callable[[BaseException], bool]

_STOP = object()  # queued by stop(): everything queued before it is still committed
RETRY_MIN_DELAY = 0.05  # seconds before the first retry after a store failure
RETRY_MAX_DELAY = 1.0  # backoff cap: also how long a recovered store may go unnoticed
REPORT_EVERY = 30.0  # seconds between "still failing" log lines


def _never(_exc: BaseException) -> bool:
    return False


@dataclass(eq=False)
class _Item:
    fn: Op
    label: str
    future: Future[Any] | None
    probe: bool = False


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
        self._max_batch = max(1, max_batch)
        self._max_delay = max_delay
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
        self._retry_min_delay = retry_min_delay
        self._retry_max_delay = max(retry_min_delay, retry_max_delay)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._started = threading.Event()
        self._closing = threading.Event()  # no new operations
        self._abort = threading.Event()  # leave now, fail what is queued
        self._finished = threading.Event()  # the loop has ended
        self._start_error: BaseException | None = None
        self._last_batch = 0
        self._stop_deadline = float("inf")
        # The writer thread alone changes what follows; other threads only read it.
        self._healthy = False
        self._backlog: deque[_Item] = deque()  # asynchronous ops waiting for the store
        self._failures = 0
        self._failing_since: float | None = None
        self._last_error = ""
        self._retry_delay = 0.0
        self._retry_at = 0.0
        self._next_report = 0.0

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
        """Alive, and no store failure since the last committed probe (see the module
        docstring): a failed BEGIN, COMMIT or write makes it False until a real write
        commits again."""
        return self.alive and self._healthy

    @property
    def unrecorded(self) -> int:
        """Asynchronous operations the store failed to commit, waiting for a retry."""
        return len(self._backlog)

    @property
    def failures(self) -> int:
        """Transactions that failed because the store did, since the start."""
        return self._failures

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
        self._healthy = self._probe_commits(conn)
        self._started.set()
        try:
            self._loop(conn)
        finally:
            self._finished.set()
            self._log_unrecorded()
            self._fail_leftovers()
            try:
                conn.close()
            except Exception:
                log.exception("closing the store write connection failed")

    def _loop(self, conn: Any) -> None:
        while not self._abort.is_set():
            try:
                first = self._queue.get(timeout=self._wait_time())
            except queue.Empty:
                first = None
            batch, stop = self._gather(first) if first is not None else ([], False)
            try:
                self._handle(conn, batch)
            except Exception as exc:  # a bug here must not kill the writer
                log.exception("store writer failed on a batch")
                for item in batch:
                    self._settle_failure(item, StoreError(f"internal store error: {exc}"))
            if stop:
                self._retry_until_deadline(conn)
                return

    def _handle(self, conn: Any, batch: list[_Item]) -> None:
        """Run a batch, after the backlog: nothing may overtake an unrecorded write.

        While failing, the backlog is retried when the backoff has passed, or when new
        work comes and a lone probe commits: a recovered store (or a replaced database
        connection) serves callers at once, and a failing one costs each batch one
        small write, not a replay of the whole backlog."""
        if self._failing() and (self._retry_due() or (batch and self._probe_commits(conn))):
            self._recover(conn)
        if self._failing():
            self._refuse(batch, StoreError(self._last_error or "the store cannot commit"))
        elif batch:
            self._run(conn, batch)

    def _failing(self) -> bool:
        return not self._healthy or bool(self._backlog)

    def _retry_due(self) -> bool:
        return time.monotonic() >= self._retry_at

    def _probe_commits(self, conn: Any) -> bool:
        outcome, _results = self._attempt(conn, [_Item(self._probe, "probe", None, probe=True)])
        return outcome is _Outcome.COMMITTED

    def _wait_time(self) -> float:
        if not self._failing():
            return self._poll
        return min(self._poll, max(0.0, self._retry_at - time.monotonic()))

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

    def _grow(self, batch: list[_Item]) -> None:
        """Move what is queued now into `batch`, up to max_batch; a STOP goes back to the
        end of the queue (everything queued before it is in the batch)."""
        while len(batch) < self._max_batch:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is _STOP:
                self._queue.put(item)
                return
            if item.future is None or item.future.set_running_or_notify_cancel():
                batch.append(item)

    def _linger(self, size: int) -> bool:
        """Wait (up to max_delay) for more only while this batch is smaller than the last
        one: the last commit shows how many callers are active. A lone caller (the idle
        case) never waits, and a batch stops waiting as soon as it has caught up."""
        return self._max_delay > 0 and size < self._last_batch

    # -- running batches --------------------------------------------------------------

    def _run(self, conn: Any, batch: list[_Item], grow: bool = True) -> None:
        """Run new operations in one transaction; after an operation's own failure, each
        alone. A store failure refuses the rest (asynchronous ones wait in the backlog).
        `grow`: what queued while this process waited for the lock joins the batch."""
        outcome, detail = self._attempt(conn, batch, grow)
        if outcome is _Outcome.COMMITTED:
            self._settle_results(batch, detail)
        elif outcome is _Outcome.STORE_FAILED:
            self._refuse(batch, detail)
        elif len(batch) == 1:
            self._settle_failure(batch[0], detail)
        else:
            log.warning("a store batch of %d failed (%s); retrying one by one", len(batch), detail)
            for index, item in enumerate(batch):
                if self._failing():
                    self._refuse(batch[index:], StoreError(self._last_error))
                    return
                self._run(conn, [item], grow=False)

    def _recover(self, conn: Any) -> None:
        """Probe plus the backlog, oldest first, in chunks, while the store commits."""
        while True:
            chunk = list(itertools.islice(self._backlog, max(1, self._max_batch - 1)))
            probe = _Item(self._probe, "probe", None, probe=True)
            outcome, _results = self._attempt(conn, [probe, *chunk])
            if outcome is _Outcome.STORE_FAILED:
                return
            if outcome is _Outcome.OP_FAILED:  # one of them fails by itself now
                if not self._run_backlog_alone(conn, len(chunk)):
                    return
                continue  # the probe again, with what is left
            for _ in chunk:
                self._backlog.popleft()
            self._recovered(len(chunk))
            if not self._backlog:
                return

    def _run_backlog_alone(self, conn: Any, count: int) -> bool:
        """The first `count` backlog items, each in its own transaction; False when the
        store fails again (that item and the rest stay in the backlog, in order). Health
        is left to the probe that follows: an update of no rows commits on a full disk."""
        for _ in range(count):
            item = self._backlog[0]
            outcome, detail = self._attempt(conn, [item])
            if outcome is _Outcome.STORE_FAILED:
                return False
            self._backlog.popleft()
            if outcome is _Outcome.OP_FAILED:
                self._settle_failure(item, detail)
        return True

    def _attempt(self, conn: Any, batch: list[_Item], grow: bool = False) -> tuple[_Outcome, Any]:
        """One transaction: (COMMITTED, results), (OP_FAILED, the op's exception) or
        (STORE_FAILED, a StoreError; the writer is then unhealthy, a retry scheduled).
        With `grow`, the batch (a list the caller holds) takes in what was queued by the
        time the lock is held: under contention each commit carries more."""
        started = time.monotonic()
        step, current = "begin", None
        try:
            with self._exclusive():
                if grow:
                    self._grow(batch)
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
                return _Outcome.STORE_FAILED, self._store_failed(step, exc)
            return _Outcome.OP_FAILED, exc
        operations = sum(1 for item in batch if not item.probe)  # probes are not traffic
        if operations:
            self._last_batch = operations
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

    # -- store health -----------------------------------------------------------------

    def _store_failed(self, step: str, exc: Exception) -> StoreError:
        """Mark unhealthy, schedule the next retry (doubling), log once per outage."""
        now = time.monotonic()
        self._failures += 1
        self._healthy = False
        self._last_error = f"store {step} failed: {exc}"
        self._retry_delay = min(
            self._retry_max_delay, max(self._retry_min_delay, self._retry_delay * 2)
        )
        self._retry_at = now + self._retry_delay
        if self._failing_since is None:
            self._failing_since = now
            self._next_report = now + REPORT_EVERY
            log.error(
                "%s; refusing writes, keeping asynchronous ones in memory and retrying",
                self._last_error,
            )
        elif now >= self._next_report:
            self._next_report = now + REPORT_EVERY
            log.warning(
                "store still failing after %.0f s (%s); %d asynchronous writes wait",
                now - self._failing_since,
                self._last_error,
                len(self._backlog),
            )
        error = StoreError(self._last_error)
        error.__cause__ = exc
        return error

    def _recovered(self, landed: int) -> None:
        """A real write committed: healthy again (logged once per outage)."""
        self._healthy = True
        self._retry_delay = 0.0
        if self._failing_since is not None:
            log.warning(
                "store writable again after %.1f s (%d failed attempts so far); recording"
                " %d asynchronous writes kept in memory",
                time.monotonic() - self._failing_since,
                self._failures,
                landed + len(self._backlog),
            )
            self._failing_since = None

    def _retry_until_deadline(self, conn: Any) -> None:
        """At stop: keep retrying the backlog until the stop deadline."""
        while self._backlog and not self._abort.is_set():
            wait = min(self._retry_at, self._stop_deadline) - time.monotonic()
            if wait > 0 and self._abort.wait(wait):
                return
            if time.monotonic() >= self._stop_deadline:
                return
            self._recover(conn)

    def _log_unrecorded(self) -> None:
        """At the end: what the store never took, one line per operation, by label."""
        if not self._backlog:
            return
        log.error(
            "stopping with %d asynchronous writes not recorded (%s); their messages stay"
            " as they were in the store and are submitted again at the next start",
            len(self._backlog),
            self._last_error,
        )
        while self._backlog:
            log.error("not recorded: %s", self._backlog.popleft().label)

    # -- settling ---------------------------------------------------------------------

    def _settle_results(self, batch: list[_Item], results: list[Any]) -> None:
        for item, result in zip(batch, results, strict=True):
            if item.future is not None:
                with contextlib.suppress(InvalidStateError):
                    item.future.set_result(result)

    def _refuse(self, items: list[_Item], error: StoreError) -> None:
        """The store is failing: synchronous callers hear it now, asynchronous operations
        go to the end of the backlog."""
        for item in items:
            if item.future is None:
                self._backlog.append(item)
            else:
                log.debug("store operation %s refused: %s", item.label, error)
                with contextlib.suppress(InvalidStateError):
                    item.future.set_exception(error)

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
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and not (item.future and item.future.cancelled()):
                self._settle_failure(item, StoreError(f"{item.label}: the store is closed"))


def _noop(conn: Any) -> None:
    """The flush marker: runs (and commits) after everything queued before it."""

"""The SQLite backend: one file in WAL mode, one writer thread, per-thread readers.

Durability: we promise a message is stored before the caller hears responseCode 0, so
the write connection runs `synchronous=FULL`: in WAL mode that fsyncs the WAL at every
commit. NORMAL would survive a crash of the process but could lose the last commits on
power loss or a kernel crash. Group commit (writer.py) pays the fsync once per batch, so
the cost shows mostly for a lone caller (bench/store_rate.py, 2 vCPU VM: one thread about
1,000 accepts/s FULL vs 3,000 NORMAL; eight threads 3,000-4,300 FULL vs 3,100-5,900
NORMAL, where Python, not the fsync, is the limit).
Reads go through read-only connections, one per thread, and never wait for the writer.
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

from gateway.config import StoreSettings
from gateway.model import (
    ClaimedMessage,
    InboundPart,
    MessageView,
    NewMessage,
    OutboxItem,
    ReceiptRecord,
    SegmentResult,
    State,
)
from gateway.model_api import Conversion, IdempotencyRecord
from gateway.store import base
from gateway.store.base import Effects, StoreError, StoreHooks, journaled
from gateway.store.migrate import apply_migrations
from gateway.store.shared import ENQUEUE_TIMEOUT, SharedOperations
from gateway.store.sql import api, inbound, outbox, retention, states
from gateway.store.sql import messages as ops
from gateway.store.writer import OnCommit, Writer

log = logging.getLogger("gateway.store")

SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")
BUSY_TIMEOUT = 5.0  # seconds SQLite retries a lock held by another process
# Primary result codes that say the database file or its disk failed, not the statement:
# BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL, CANTOPEN, PROTOCOL, NOTADB.
_STORE_FAILURE_CODES = frozenset({5, 6, 7, 8, 10, 11, 13, 14, 15, 26})


def is_store_failure(exc: BaseException) -> bool:
    """True when `exc` means the store cannot write (disk full, I/O error, locked too
    long), so the write is retried; False for a statement's own error (a constraint)."""
    if isinstance(exc, OSError | MemoryError):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return (
        isinstance(exc, sqlite3.Error) and code is not None and code & 0xFF in _STORE_FAILURE_CODES
    )


class FileLock:
    """An exclusive flock(2) on a file beside the database, held around each write
    transaction. Why: several processes write one file (HTTP workers, the engine, the
    dispatcher). SQLite makes a writer that finds the file locked sleep and retry (1, 2,
    5, 10 ... 100 ms); queued on a kernel lock instead, a writer wakes the moment the
    holder commits. Measured (`python -m bench.store_rate --procs P --threads 16/P
    --messages 16000`, 2 cores): 2 processes 6,328 -> 8,069 accepts/s, p99 20.5 -> 5.4 ms,
    worst 131 -> 13 ms; 4 processes 5,168 -> 5,747/s, p99 34.6 -> 7.5 ms, worst 732 -> 21 ms.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def __call__(self) -> FileLock:
        return self

    def __enter__(self) -> None:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        assert self._fd is not None
        fcntl.flock(self._fd, fcntl.LOCK_UN)


INCREMENTAL = 2  # PRAGMA auto_vacuum's value for INCREMENTAL
VACUUM_PAGES = 2_000  # free pages one retention pass gives back (8 MB of 4 KiB pages)


def _purge_and_shrink(conn: sqlite3.Connection, *, before: float, limit: int) -> retention.Purged:
    purged = retention.purge(conn, before=before, limit=limit, skip_locked=False)
    conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
    return purged


class SQLiteStore(SharedOperations):
    """Store on one SQLite file. Build it with open_store(); see base.Store for the contract."""

    def __init__(
        self,
        path: str | Path,
        settings: StoreSettings,
        *,
        synchronous: str,
        queue_size: int,
        clock: Callable[[], float],
        hooks: StoreHooks | None,
        on_commit: OnCommit | None,
        on_effects: Callable[[Effects], None] | None,
    ) -> None:
        if synchronous.upper() not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}")
        self.path = Path(path)
        self._synchronous = synchronous.upper()
        self._clock = clock
        self._hooks = hooks or StoreHooks()
        self._writer = Writer(
            self._connect_writer,
            max_batch=settings.commit_max_batch,
            max_delay=settings.commit_max_delay,
            queue_size=queue_size,
            on_commit=on_commit,
            on_effects=on_effects,
            probe=ops.probe,
            exclusive=FileLock(self.path.with_name(self.path.name + ".lock")),
            is_store_failure=is_store_failure,
        )
        self._readers: list[sqlite3.Connection] = []
        self._local = threading.local()
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> SQLiteStore:
        """Create the file, switch it to WAL, migrate, start the writer."""
        deadline = time.monotonic() + BUSY_TIMEOUT
        while True:
            try:
                self._prepare_file()
                break
            except sqlite3.OperationalError as exc:
                # Every process of a daemon opens the store at its start. On a new file one
                # of them switches it to WAL while the others ask too: SQLite answers them
                # "locked" at once, without its busy handler. Ask again, within the limit.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
                time.sleep(0.02)
            except (OSError, sqlite3.Error) as exc:
                raise StoreError(f"cannot open the store {self.path}: {exc}") from exc
        self._writer.start()
        return self

    def _prepare_file(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT)
        try:
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")  # a new file: before any table
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.path}: cannot use WAL (journal_mode={mode})")
            apply_migrations(conn, clock=self._clock)
            self._incremental_vacuum_on(conn)
        finally:
            conn.close()

    def _incremental_vacuum_on(self, conn: sqlite3.Connection) -> None:
        """A file made before auto_vacuum was set is rebuilt once (VACUUM), so that pages
        retention frees go back to the file system (`purge`), not only to SQLite's free
        list. Under the writers' flock: one process does it, the others find it done."""
        if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
            return
        with FileLock(self.path.with_name(self.path.name + ".lock")):
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] == INCREMENTAL:
                return
            started = time.monotonic()
            conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
            conn.execute("VACUUM")
            log.warning(
                "%s rebuilt for incremental vacuum in %.1f s", self.path, time.monotonic() - started
            )

    def _connect_writer(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            readers, self._readers = self._readers, []
        self._writer.stop(timeout)
        for conn in readers:
            conn.close()
        self._truncate_wal()

    def _truncate_wal(self) -> None:
        """Give the WAL's disk back at a stop (the last process to close manages it; the
        others are told "busy", and that is fine)."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=0.1)
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            finally:
                conn.close()
        except sqlite3.Error:
            pass

    # -- writes ----------------------------------------------------------------------

    def accept(self, messages: Sequence[NewMessage], timeout: float = 10.0) -> None:
        if not messages:
            return
        rows = ops.accept_rows(messages, self._clock())  # built here, off the writer thread
        label = f"accept {messages[0].id}" + (
            f" (+{len(messages) - 1})" if len(messages) > 1 else ""
        )
        self._writer.call(partial(ops.insert, rows), label=label, timeout=timeout)

    def claim(self, limit: int) -> list[ClaimedMessage]:
        if limit <= 0:
            return []
        op = partial(ops.claim, limit=limit, now=self._clock())
        return self._writer.call(
            op, label="claim", timeout=base.CLAIM_TIMEOUT, on_late=self._give_back
        )

    def _give_back(self, claimed: list[ClaimedMessage]) -> None:
        """A claim that committed after the engine stopped waiting for it: nobody holds
        these messages, and on SQLite nothing claims a `submitting` message again before
        the next start. Back to `accepted`, queued (this runs on the writer thread)."""
        ids = [m.id for m in claimed]
        if ids:
            op = partial(ops.requeue, ids=ids, now=self._clock(), detail="late claim given back")
            self._writer.submit(
                op, label=f"give back a late claim ({len(ids)})", wait=False, timeout=0
            )

    def record_written(self, segments: Sequence[tuple[str, int]], at: float) -> None:
        if not segments:
            return
        rows = [(at, message_id, seq) for message_id, seq in segments]
        label = f"record_written {segments[0][0]}/{segments[0][1]} ({len(rows)})"
        op = partial(ops.mark_written, rows=rows)
        self._writer.submit(op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT)

    def record_results(self, results: Sequence[SegmentResult]) -> None:
        if not results:
            return
        rows = [(r.smsc_message_id, r.command_status, r.at, r.message_id, r.seq) for r in results]
        label = f"record_results {results[0].message_id}/{results[0].seq} ({len(rows)})"
        op = journaled(self._hooks, states.record_results, rows)
        self._writer.submit(op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT)

    def finish(
        self,
        message_id: str,
        state: State,
        *,
        error: str | None = None,
        smpp_status: int | None = None,
        at: float,
    ) -> None:
        op = self._finish_op(message_id, state, at, error, smpp_status)
        label = f"finish {message_id} {state}"
        self._writer.submit(op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT)

    def requeue_claimed(self) -> int:
        op = partial(ops.requeue, ids=None, now=self._clock(), detail="requeued")
        return self._writer.call(op, label="requeue_claimed", timeout=30.0)

    def release(self, message_ids: Sequence[str]) -> None:
        if message_ids:
            op = partial(ops.requeue, ids=list(message_ids), now=self._clock(), detail="released")
            self._writer.call(op, label=f"release ({len(message_ids)})", timeout=30.0)

    def void_webhook_leases(self) -> int:
        """One daemon owns an SQLite file, so when its dispatcher starts, the leases of
        the last run's dispatcher are void: their webhooks are due now, not at lease end."""
        return self._writer.call(outbox.void_leases, label="void webhook leases", timeout=30.0)

    def flush(self, timeout: float = 10.0) -> None:
        self._writer.flush(timeout)

    def writable(self) -> bool:
        return self._writer.healthy

    def unrecorded(self) -> int:
        return self._writer.unrecorded

    def write_failures(self) -> int:
        return self._writer.failures

    def purge(self, before: float, limit: int = 500) -> retention.Purged:
        """One retention batch (see retention.py), then the pages it freed (up to
        VACUUM_PAGES) go back to the file system: the file shrinks as rows expire."""
        op = partial(_purge_and_shrink, before=before, limit=limit)
        return self._writer.call(op, label="purge", timeout=30.0)

    def on_new_work(self, callback: Callable[[], None]) -> None:
        """Nothing to subscribe to: one daemon owns the file, and its HTTP workers ring
        its engine's doorbell (gateway/wakeup.py) after each accept."""

    # -- receipts, inbound, outbox ----------------------------------------------------

    def record_receipt(self, receipt: ReceiptRecord) -> Future[Any]:
        op = journaled(self._hooks, states.record_receipt, receipt)
        return self._submit_waited(op, f"receipt {receipt.smsc_message_id}")

    def record_inbound(self, part: InboundPart) -> Future[Any]:
        op = journaled(self._hooks, inbound.record_inbound, part)
        return self._submit_waited(op, f"inbound from {part.sender}")

    def _submit_waited(self, op: Callable[[sqlite3.Connection], Any], label: str) -> Future[Any]:
        future = self._writer.submit(op, label=label, wait=True, timeout=ENQUEUE_TIMEOUT)
        assert future is not None
        return future

    def expire_inbound(self, before: float) -> int:
        op = journaled(self._hooks, inbound.expire_inbound, before)
        return self._writer.call(op, label="expire_inbound", timeout=10.0)

    def claim_outbox(self, limit: int, lease: float) -> list[OutboxItem]:
        op = partial(outbox.claim, limit=limit, now=self._clock(), lease=lease)
        return self._writer.call(op, label="claim_outbox", timeout=10.0)

    # -- reads -----------------------------------------------------------------------

    def get_message(self, message_id: str) -> MessageView | None:
        return self._read(partial(ops.view, message_id=message_id))

    def count_by_state(self) -> dict[str, int]:
        rows = self._read(lambda c: c.execute(ops.COUNT_BY_STATE))
        counts = {s.value: 0 for s in State}
        counts.update(dict(rows))
        return counts

    def _any_writer(self) -> Writer:
        return self._writer

    def _read(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        """Run a read in one snapshot (a read transaction) on this thread's connection."""
        conn = self._reader()
        try:
            conn.execute("BEGIN")
            try:
                result = fn(conn)
                return list(result) if isinstance(result, sqlite3.Cursor) else result
            finally:
                conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        with self._lock:
            if self._closed:
                raise StoreError("the store is closed")
            if conn is None:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                conn = sqlite3.connect(
                    uri,
                    uri=True,
                    isolation_level=None,
                    timeout=BUSY_TIMEOUT,
                    check_same_thread=False,  # only so close() can close it
                )
                self._readers.append(conn)
                self._local.conn = conn
        return conn

    # -- API extras: idempotency, conversions, usage (issue 4) ------------------------

    def accept_idempotent(
        self, messages: Sequence[NewMessage], record: IdempotencyRecord, timeout: float = 10.0
    ) -> IdempotencyRecord | None:
        rows = ops.accept_rows(messages, self._clock())  # built off the writer thread
        op = partial(api.insert_idempotent, rows, record)
        label = f"accept {len(messages)} with idempotency key"
        return self._writer.call(op, label=label, timeout=timeout)

    def get_idempotency(self, api_key_id: str, key: str, now: float) -> IdempotencyRecord | None:
        return self._read(partial(api.live_record, api_key_id=api_key_id, key=key, now=now))

    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        op = partial(api.take_token, bucket=bucket, rate=rate, burst=burst, now=self._clock())
        return self._writer.call(op, label=f"take a {bucket} token", timeout=10.0)

    def take_tokens(
        self, bucket: str, rate: float, burst: float, count: int, whole: bool = False
    ) -> tuple[int, float]:
        now = self._clock()
        op = partial(
            api.take_tokens,
            bucket=bucket,
            rate=rate,
            burst=burst,
            count=count,
            now=now,
            whole=whole,
        )
        return self._writer.call(op, label=f"take {bucket} tokens", timeout=10.0)

    def mark_converted(self, message_id: str, api_key_id: str, at: float) -> Conversion:
        op = partial(api.convert, message_id=message_id, api_key_id=api_key_id, at=at)
        return self._writer.call(op, label=f"convert {message_id}", timeout=10.0)

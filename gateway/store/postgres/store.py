"""The PostgreSQL backend: several daemons on one database, each with its own writer.

Why it looks like the SQLite backend: the same single writer thread with group commit
(writer.py) and the same portable SQL (store/sql/, through conn.PgConnection), so the two
cannot drift. What is different is sharing: claims carry an owner and a lease that a
background thread renews while the daemon lives (a killed daemon's claims expire and
another daemon takes them), claims skip rows other daemons hold (SKIP LOCKED), a
batch takes advisory locks before it runs (locks.py) so receipts and
submit_sm_resps recorded on different daemons still meet, and an accept NOTIFYs idle
daemons. Reads go through a small connection pool and never wait for the writer.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from functools import partial
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from gateway import receipts as receipt_ids
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
from gateway.store.base import Effects, Outcome, StoreError, StoreHooks, journaled
from gateway.store.location import parse_location
from gateway.store.postgres import migrate as pgm
from gateway.store.postgres import ops as pg
from gateway.store.postgres.conn import PgConnection, is_store_failure
from gateway.store.postgres.listen import Listener
from gateway.store.postgres.locks import Locked, prelude
from gateway.store.postgres.writers import Writers
from gateway.store.shared import ENQUEUE_TIMEOUT, SharedOperations
from gateway.store.sql import api, inbound, retention, states
from gateway.store.sql import messages as ops
from gateway.store.writer import OnCommit, Writer

log = logging.getLogger("gateway.store")

_NUL = "\x00"
MAX_BATCH = 128  # bounds the advisory locks one transaction holds (lock table size)
OnEvent = Callable[[str, int], None]  # ("claimed" | "lease_expired_message" | ..., count)


def default_owner() -> str:
    """Unique per process start: a restarted daemon must not inherit its old claims."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _no_event(_name: str, _count: int) -> None:
    pass


class PostgresStore(SharedOperations):
    """Store on a PostgreSQL database shared by daemons. See base.Store for the contract."""

    def __init__(
        self,
        url: str,
        settings: StoreSettings,
        *,
        queue_size: int,
        clock: Callable[[], float],
        hooks: StoreHooks | None,
        on_commit: OnCommit | None,
        on_effects: Callable[[Effects], None] | None,
        on_event: OnEvent | None,
    ) -> None:
        self.url = url
        self.owner = default_owner()
        self.lease = settings.claim_lease
        self._clock = clock
        self._hooks = hooks or StoreHooks()
        self._migrate = settings.migrate_on_start
        self._on_event = on_event or _no_event
        self._writers = Writers(
            lambda i: Writer(
                self._connect_writer,
                name=f"store-writer-{i}",
                max_batch=min(settings.commit_max_batch, MAX_BATCH),
                max_delay=settings.commit_max_delay,
                queue_size=queue_size,
                on_commit=on_commit,
                on_effects=on_effects,
                begin=None,  # psycopg opens the transaction implicitly
                prelude=prelude,
                probe=pg.probe,
                is_store_failure=is_store_failure,
            ),
            settings.writers,
        )
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=settings.pool_size,
            open=False,
            kwargs={"autocommit": True},
        )
        self._listener = Listener(url, pg.WORK_CHANNEL)
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_loop, name="store-lease", daemon=True)
        self._lock = threading.Lock()
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------

    def open(self) -> PostgresStore:
        """Migrate (or check the schema is current), open the pool, start the threads."""
        if self._migrate:
            pgm.migrate(self.url, clock=self._clock)
        else:
            missing = pgm.missing(self.url)
            if missing:
                raise StoreError(
                    f"the database lacks migrations {missing}: run `smpp-gateway migrate`"
                )
        try:
            self._pool.open(wait=True, timeout=10.0)
        except Exception as exc:
            raise StoreError(f"cannot open the PostgreSQL read pool: {exc}") from exc
        self._writers.start()
        self._renewer.start()
        where = parse_location(self.url).redacted()
        log.info("store: PostgreSQL %s as %s (claim lease %.0f s)", where, self.owner, self.lease)
        return self

    def _connect_writer(self) -> PgConnection:
        def connect() -> Any:
            return psycopg.connect(self.url, autocommit=False, connect_timeout=5)

        return PgConnection(connect(), connect)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        self._listener.stop()
        self._writers.stop(timeout)
        if self._renewer.is_alive():
            self._renewer.join(timeout=2.0)
        self._pool.close()

    def on_new_work(self, callback: Callable[[], None]) -> None:
        """Call `callback` when any daemon commits accepted messages (LISTEN/NOTIFY)."""
        self._listener.subscribe(callback)

    def _renew_loop(self) -> None:
        """Renew this daemon's claims three times per lease, so one missed renewal (a
        slow commit) does not let another daemon take a message that is in flight."""
        while not self._stop.wait(self.lease / 3):
            try:
                self._writers.any().submit(
                    self._renew_op, label="renew leases", wait=False, timeout=ENQUEUE_TIMEOUT
                )
            except StoreError as exc:
                log.warning("could not renew claim leases: %s", exc)

    def _renew_op(self, conn: PgConnection) -> int:
        return pg.renew(conn, owner=self.owner, until=self._clock() + self.lease)

    # -- writes ----------------------------------------------------------------------

    def accept(self, messages: Sequence[NewMessage], timeout: float = 10.0) -> None:
        if not messages:
            return
        rows = ops.accept_rows(messages, self._clock())
        label = f"accept {messages[0].id}" + (
            f" (+{len(messages) - 1})" if len(messages) > 1 else ""
        )
        self._writers.any().call(partial(pg.accept, rows), label=label, timeout=timeout)

    def claim(self, limit: int) -> list[ClaimedMessage]:
        if limit <= 0:
            return []
        op = partial(pg.claim, limit=limit, now=self._clock(), owner=self.owner, lease=self.lease)
        claimed = self._writers.any().call(
            op, label="claim", timeout=base.CLAIM_TIMEOUT, on_late=self._give_back
        )
        self._event("claimed", len(claimed.messages))
        self._event("lease_expired_message", claimed.reclaimed)
        return claimed.messages

    def _give_back(self, claimed: pg.Claimed) -> None:
        """A claim that committed after the engine stopped waiting for it: nobody holds
        these messages, yet this daemon renews their lease while it lives. Back to
        `accepted`, queued (this runs on the writer thread)."""
        ids = [m.id for m in claimed.messages]
        if ids:
            op = partial(pg.release, ids=ids, owner=self.owner, now=self._clock())
            label = f"give back a late claim ({len(ids)})"
            self._writers.any().submit(
                Locked(op, messages=tuple(ids)), label=label, wait=False, timeout=0
            )

    def record_written(self, segments: Sequence[tuple[str, int]], at: float) -> None:
        """Per message, on the writer that records its results next (so the mark lands
        first)."""
        by_message: dict[str, list[tuple[float, str, int]]] = {}
        for message_id, seq in segments:
            by_message.setdefault(message_id, []).append((at, message_id, seq))
        for message_id, rows in by_message.items():
            op = Locked(partial(ops.mark_written, rows=rows), messages=(message_id,))
            label = f"record_written {message_id} ({len(rows)})"
            writer = self._writers.for_message(message_id)
            writer.submit(op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT)

    def record_results(self, results: Sequence[SegmentResult]) -> None:
        """Per message, on the writer that also marks it sent (so resp comes first)."""
        by_message: dict[str, list[SegmentResult]] = {}
        for r in results:
            by_message.setdefault(r.message_id, []).append(r)
        for message_id, group in by_message.items():
            op = self._results_op(group)
            label = f"record_results {message_id}/{group[0].seq} ({len(group)})"
            writer = self._writers.for_message(message_id)
            writer.submit(op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT)

    def _results_op(self, results: list[SegmentResult]) -> Locked:
        rows = [(r.smsc_message_id, r.command_status, r.at, r.message_id, r.seq) for r in results]
        keys = {
            f"k:{k}"
            for r in results
            if r.command_status == 0 and r.smsc_message_id
            for k in receipt_ids.normalize_id(r.smsc_message_id)
        }
        return Locked(
            journaled(self._hooks, states.record_results, rows),
            areas=tuple(keys),
            messages=(results[0].message_id,),
        )

    def finish(
        self,
        message_id: str,
        state: State,
        *,
        error: str | None = None,
        smpp_status: int | None = None,
        at: float,
    ) -> None:
        transition = self._finish_op(message_id, state, at, error, smpp_status)
        op = Locked(transition, messages=(message_id,))
        label = f"finish {message_id} {state}"
        self._writers.for_message(message_id).submit(
            op, label=label, wait=False, timeout=ENQUEUE_TIMEOUT
        )

    def requeue_claimed(self) -> int:
        """Nothing to do: other daemons share the database, so claims are not requeued
        wholesale at start; a dead daemon's claims come back when their lease passes."""
        return 0

    def void_webhook_leases(self) -> int:
        """Nothing to do: other daemons' dispatchers hold live leases; a dead one's
        leases expire by time and its webhooks are claimed again then."""
        return 0

    def release(self, message_ids: Sequence[str]) -> None:
        if message_ids:
            self.flush(30.0)  # results and finishes queued on any writer go first
            ids = list(message_ids)
            op = Locked(
                partial(pg.release, ids=ids, owner=self.owner, now=self._clock()),
                messages=tuple(ids),
            )
            self._writers.any().call(op, label=f"release ({len(ids)})", timeout=30.0)

    def flush(self, timeout: float = 10.0) -> None:
        self._writers.flush(timeout)

    def writable(self) -> bool:
        return self._writers.alive and not self._writers.unhealthy()

    def unrecorded(self) -> int:
        return sum(w.unrecorded for w in self._writers.all)

    def write_failures(self) -> int:
        return sum(w.failures for w in self._writers.all)

    def purge(self, before: float, limit: int = 500) -> retention.Purged:
        """One retention batch (see retention.py)."""
        op = partial(retention.purge, before=before, limit=limit, skip_locked=True)
        return self._writers.any().call(op, label="purge", timeout=30.0)

    # -- receipts, inbound, outbox ----------------------------------------------------

    def record_receipt(self, receipt: ReceiptRecord) -> Future[Any]:
        cross: list[bool] = []

        record = journaled(self._hooks, pg.record_receipt, receipt)

        def run(conn: PgConnection) -> Outcome:
            owners = {conn.key_owners.get(k) for k in receipt.id_keys} - {None}
            cross[:] = [bool(owners) and self.owner not in owners]
            return record(conn)

        op = Locked(
            run,
            areas=tuple(f"k:{k}" for k in receipt.id_keys),
            receipt_keys=tuple(receipt.id_keys),
        )
        future = self._submit_waited(op, f"receipt {receipt.smsc_message_id}")

        def count(done: Future[Any]) -> None:
            if not done.cancelled() and done.exception() is None and done.result() and any(cross):
                self._event("cross_daemon_receipt", 1)

        future.add_done_callback(count)
        return future

    def record_inbound(self, part: InboundPart) -> Future[Any]:
        op = Locked(journaled(self._hooks, inbound.record_inbound, part), areas=("inbound",))
        return self._submit_waited(op, f"inbound from {part.sender}")

    def _submit_waited(self, op: Callable[[Any], Any], label: str) -> Future[Any]:
        future = self._writers.any().submit(op, label=label, wait=True, timeout=ENQUEUE_TIMEOUT)
        assert future is not None
        return future

    def expire_inbound(self, before: float) -> int:
        op = Locked(journaled(self._hooks, inbound.expire_inbound, before), areas=("inbound",))
        return self._writers.any().call(op, label="expire_inbound", timeout=10.0)

    def claim_outbox(self, limit: int, lease: float) -> list[OutboxItem]:
        op = partial(pg.claim_outbox, limit=limit, now=self._clock(), lease=lease)
        items, reclaimed = self._writers.any().call(op, label="claim_outbox", timeout=10.0)
        self._event("lease_expired_webhook", reclaimed)
        return items

    # -- reads -----------------------------------------------------------------------

    def get_message(self, message_id: str) -> MessageView | None:
        if _NUL in message_id:  # PostgreSQL text cannot hold NUL: no stored id has one
            return None
        return self._read(partial(ops.view, message_id=message_id))

    def count_by_state(self) -> dict[str, int]:
        rows = self._read(lambda c: c.execute(ops.COUNT_BY_STATE).fetchall())
        counts = {s.value: 0 for s in State}
        counts.update(dict(rows))
        return counts

    def _any_writer(self) -> Writer:
        return self._writers.any()

    def _read(self, fn: Callable[[PgConnection], Any]) -> Any:
        """Run a read in one snapshot (a REPEATABLE READ transaction) on a pooled connection.
        A connection the server dropped fails once and leaves the pool, so one retry."""
        if self._closed:
            raise StoreError("the store is closed")
        try:
            try:
                return self._read_once(fn)
            except psycopg.OperationalError:
                return self._read_once(fn)
        except (psycopg.Error, OSError, PoolTimeout) as exc:
            raise StoreError(f"store read failed: {exc}") from exc

    def _read_once(self, fn: Callable[[PgConnection], Any]) -> Any:
        with self._pool.connection(timeout=10.0) as raw, raw.transaction():
            raw.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return fn(PgConnection(raw))

    # -- API extras -------------------------------------------------------------------

    def accept_idempotent(
        self, messages: Sequence[NewMessage], record: IdempotencyRecord, timeout: float = 10.0
    ) -> IdempotencyRecord | None:
        rows = ops.accept_rows(messages, self._clock())

        def run(conn: PgConnection) -> IdempotencyRecord | None:
            found = api.insert_idempotent(rows, record, conn)
            if found is None:
                conn.notify_at_commit(pg.WORK_CHANNEL)
            return found

        op = Locked(run, areas=(f"i:{record.api_key_id}\x00{record.key}",))
        label = f"accept {len(messages)} with idempotency key"
        return self._writers.any().call(op, label=label, timeout=timeout)

    def get_idempotency(self, api_key_id: str, key: str, now: float) -> IdempotencyRecord | None:
        if _NUL in api_key_id + key:
            return None
        return self._read(partial(api.live_record, api_key_id=api_key_id, key=key, now=now))

    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        take = partial(api.take_token, bucket=bucket, rate=rate, burst=burst, now=self._clock())
        op = Locked(take, areas=(f"rate:{bucket}",))  # daemons take in turn
        return self._writers.any().call(op, label=f"take a {bucket} token", timeout=10.0)

    def take_tokens(
        self, bucket: str, rate: float, burst: float, count: int, whole: bool = False
    ) -> tuple[int, float]:
        now = self._clock()
        take = partial(
            api.take_tokens,
            bucket=bucket,
            rate=rate,
            burst=burst,
            count=count,
            now=now,
            whole=whole,
        )
        op = Locked(take, areas=(f"rate:{bucket}",))
        return self._writers.any().call(op, label=f"take {bucket} tokens", timeout=10.0)

    def mark_converted(self, message_id: str, api_key_id: str, at: float) -> Conversion:
        if _NUL in message_id:
            return Conversion.UNKNOWN
        op = partial(api.convert, message_id=message_id, api_key_id=api_key_id, at=at)
        return self._writers.any().call(op, label=f"convert {message_id}", timeout=10.0)

    def _event(self, name: str, count: int) -> None:
        if count:
            try:
                self._on_event(name, count)
            except Exception:
                log.exception("store on_event hook failed")

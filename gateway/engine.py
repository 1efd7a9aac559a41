"""The engine: feeds durable messages to the SMPP sessions and records what happened.

The store is the queue. A feeder thread claims accepted messages from the store while
the in-memory ready queue is short and a transmitter is bound, so a backlog waits on
disk, not in memory, and a crash loses nothing: claimed messages go back to `accepted`
at the next start. Transient failures wait in a retry schedule without holding up
other messages; permanent ones fail the message with the SMPP status kept.

What the SMSC answered is written asynchronously (record_results, finish). When the store
cannot commit (disk full, I/O error, lost database) its writer keeps those writes in
memory and retries them until they land (store/writer.py); meanwhile the feeder claims
nothing and the sessions submit nothing more, so the writes waiting stay few (at most
the windows in flight) and the next start, after a crash, sends few messages twice.
A write the store refused even to queue (its queue full) waits here, in order, and is
offered again by the retry thread. See docs/durability.md.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway import metrics
from gateway.account_rate import AccountRate
from gateway.config import Config, SmppSettings
from gateway.model import ClaimedMessage, Segment, SegmentResult, State, SubmitParams
from gateway.smpp import SessionPool, is_transient, status_name
from gateway.smpp.backoff import backoff_delay
from gateway.smpp.codec import CONNECTION_LOST, RESPONSE_TIMEOUT
from gateway.store import Store, StoreError
from gateway.workqueue import ReadyQueue, RetrySchedule

log = logging.getLogger("gateway.engine")


IDLE_POLL = 1.0  # how often the feeder looks at the store without a wake-up
MAINTENANCE_INTERVAL = 1.0  # reassembly timeouts, gauges, retention


def feed_sizes(smpp: SmppSettings) -> tuple[int, int]:
    """(claim batch, ready-queue low water): enough claimed to keep every window of every
    session full between two claims, and the backlog left on disk, not in memory. An
    adaptive window is counted as up to 64: claims stay small while a claim per window
    still keeps up at a few thousand a second."""
    per_session = smpp.window if smpp.window_mode == "fixed" else min(smpp.window_max, 64)
    windows = max(smpp.window, per_session) * smpp.sessions
    return max(64, windows * 4), max(128, windows * 8)


class PendingWrites:
    """Asynchronous store writes the store refused to queue, offered again in order.

    Why: record_results and finish raise StoreError when the writer's queue stays full
    (a writer stuck on a hung disk or database). Dropping the write would leave a message
    the SMSC took as `submitting`, to be sent again after the next start. While any write
    waits here, newer ones queue behind it, so a message's results still land before its
    final state.
    """

    def __init__(self) -> None:
        self._items: deque[tuple[str, Callable[[], None]]] = deque()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def write(self, label: str, fn: Callable[[], None]) -> None:
        """Run `fn` (a store write) now, or keep it behind the ones already waiting."""
        with self._lock:
            if not self._items:
                try:
                    fn()
                    return
                except StoreError as exc:
                    log.warning("store refused %s (%s); keeping it to offer again", label, exc)
            self._items.append((label, fn))

    def retry(self) -> None:
        """Offer the waiting writes again, oldest first, until one is refused."""
        with self._lock:
            while self._items:
                label, fn = self._items[0]
                try:
                    fn()
                except StoreError:
                    return
                self._items.popleft()
                log.info("store took %s at last", label)

    def labels(self) -> list[str]:
        with self._lock:
            return [label for label, _fn in self._items]


@dataclass(eq=False)
class _Progress:
    """In-memory state of one claimed message."""

    claimed: ClaimedMessage
    remaining: set[int]
    done: bool = False


@dataclass(eq=False)
class Ticket:
    """One segment on its way to the SMSC; what a session submits."""

    progress: _Progress
    segment: Segment
    attempt: int = 0
    first_try: float = field(default_factory=time.monotonic)

    @property
    def params(self) -> SubmitParams:
        return self.progress.claimed.submit

    @property
    def payload(self) -> bytes:
        return self.segment.payload

    @property
    def message_id(self) -> str:
        return self.progress.claimed.id


class Engine:
    """Owns the session pool, the feeder and the retry schedule."""

    def __init__(
        self,
        store: Store,
        cfg: Config,
        make_pool: Callable[[Engine], SessionPool],
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        idle_poll: float = IDLE_POLL,
        maintenance_interval: float = MAINTENANCE_INTERVAL,
    ) -> None:
        self.store = store
        self._smpp = cfg.smpp
        self._mo_reassembly_timeout = cfg.webhooks.mo_reassembly_timeout
        self._retention = cfg.store
        self._claim_batch, self._ready_low_water = feed_sizes(cfg.smpp)
        self._idle_poll = idle_poll
        self._maintenance_interval = maintenance_interval
        self._clock = clock
        self._ready: ReadyQueue[Ticket] = ReadyQueue()
        self._retries: RetrySchedule[Ticket] = RetrySchedule(monotonic)
        self._progress: dict[str, _Progress] = {}
        self._pending_writes = PendingWrites()
        self._store_failures_seen = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._account_rate = (
            AccountRate(cfg.smpp.max_rate, store.take_tokens, monotonic)
            if cfg.smpp.max_rate
            else None
        )
        metrics.SUBMIT_RATE_CAP.set(cfg.smpp.max_rate)
        self.pool = make_pool(self)

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        requeued = self.store.requeue_claimed()
        if requeued:
            log.warning("requeued %d messages that were claimed at the last stop", requeued)
        self._observe_store()
        self.pool.start()
        for name, target in (
            ("engine-feeder", self._feed_loop),
            ("engine-retry", self._retry_loop),
            ("engine-maintenance", self._maintenance_loop),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop claiming, let the sessions drain and unbind, give back what was not sent.

        Writes the store has not recorded yet are retried by the store until it closes
        (Store.close); here only those it refused to queue are offered once more."""
        self._stopping.set()
        self._wake.set()
        self._retries.drain()  # (the unfinished messages are released below)
        for thread in self._threads:
            thread.join(timeout=5.0)
        self._ready.drain()
        self.pool.stop(self._smpp.stop_grace)
        self._pending_writes.retry()
        for label in self._pending_writes.labels():
            log.error("not recorded at stop (the store refused it): %s", label)
        with self._lock:
            unfinished = [pid for pid, p in self._progress.items() if not p.done]
            self._progress.clear()
        if unfinished:
            self._release(unfinished)

    def _release(self, unfinished: list[str]) -> None:
        try:
            self.store.release(unfinished)
        except StoreError as exc:
            log.error(
                "could not release %d unsent messages (%s); they stay submitting and are"
                " requeued at the next start: %s",
                len(unfinished),
                exc,
                ", ".join(unfinished),
            )
            return
        log.info("released %d unsent messages back to the queue", len(unfinished))

    def notify_new_work(self) -> None:
        """Called after an accept commits: wake the feeder now instead of at its next poll."""
        self._wake.set()

    def ready(self) -> bool:
        return self.pool.bound_count(transmitting_only=True) > 0

    def status(self) -> dict[str, Any]:
        """What `GET /status` shows of the engine: sessions and in-memory queues."""
        return {
            "sessions": self.pool.snapshot(),
            "ready_queue": len(self._ready),
            "retry_scheduled": len(self._retries),
        }

    # -- feeding ---------------------------------------------------------------------

    def _feed_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._idle_poll)
            if self._stopping.is_set():
                return
            self._wake.clear()
            if not self.ready() or len(self._ready) >= self._ready_low_water:
                continue
            if not self._store_takes_writes():
                continue  # claiming is a write, and its results could not be recorded
            try:
                claimed = self.store.claim(self._claim_batch)
            except Exception:
                log.exception("claim failed")
                continue
            self._enqueue(claimed)
            if len(claimed) == self._claim_batch:
                self._wake.set()  # there is probably more

    def _enqueue(self, claimed: list[ClaimedMessage]) -> None:
        tickets: list[Ticket] = []
        now = self._clock()
        for message in claimed:
            if message.unanswered:  # written by a run that died before the answer came
                metrics.POSSIBLE_DUPLICATES.inc(message.unanswered)
            progress = _Progress(message, {seg.seq for seg in message.segments})
            if now > message.expires_at:
                self._fail(progress, "validity expired before submission", None, "expired")
                continue
            if not message.segments:  # every segment was sent before a restart
                self._complete(progress)
                continue
            with self._lock:
                self._progress[message.id] = progress
            tickets.extend(Ticket(progress, seg) for seg in message.segments)
        self._ready.put_many(tickets)

    def _store_takes_writes(self) -> bool:
        """The store commits and holds no unrecorded write of ours (see the module
        docstring): only then is new work claimed or submitted."""
        return self.store.writable() and not self.store.unrecorded() and not self._pending_writes

    def next_submissions(self, limit: int, timeout: float) -> list[Ticket]:
        """SessionHandler: the next segments to submit, skipping finished messages.
        Nothing while the store cannot record the answers (waits `timeout` instead)."""
        if self._stopping.is_set():
            return []
        if not self._store_takes_writes():
            self._stopping.wait(timeout)
            return []
        paced = self._account_rate
        if paced is not None:  # smpp.max_rate: only as many as the account's tokens allow
            limit = paced.take(limit, self._stopping, timeout)
            if not limit:
                return []
        taken = self._ready.take(limit, timeout)
        # Ask the feeder for more only after consuming some: waking it on an empty queue
        # would make feeder and sessions ping-pong (a busy loop) while there is no work.
        if taken and len(self._ready) < self._ready_low_water:
            self._wake.set()
        tickets = [t for t in taken if not t.progress.done]
        if paced is not None:
            paced.give_back(limit - len(tickets))
        return tickets

    # -- outcomes --------------------------------------------------------------------

    def on_submit_response(
        self, ticket: Ticket, status: int, smsc_message_id: str | None, session: str
    ) -> None:
        """SessionHandler: a submit_sm got its answer (or timed out, or the link fell)."""
        name = status_name(status)
        metrics.SUBMIT_RESPONSES.labels(name).inc()
        progress = ticket.progress
        if progress.done:
            return
        if status == 0:
            metrics.SEGMENTS_SUBMITTED.inc()
            self._record(ticket, 0, smsc_message_id)
            with self._lock:
                progress.remaining.discard(ticket.segment.seq)
                finished = not progress.remaining
            if finished:
                self._complete(progress)
        elif is_transient(status):
            self._retry(ticket, name, unanswered=status in (RESPONSE_TIMEOUT, CONNECTION_LOST))
        else:
            self._record(ticket, status, None)
            self._fail(progress, f"SMSC refused: {name}", status, "smsc_permanent")

    def _record(self, ticket: Ticket, status: int, smsc_message_id: str | None) -> None:
        """Asynchronous; the store retries it until it lands (see the module docstring)."""
        result = SegmentResult(
            ticket.message_id, ticket.segment.seq, status, smsc_message_id, self._clock()
        )
        self._pending_writes.write(
            f"record_results {ticket.message_id}/{ticket.segment.seq}",
            lambda: self.store.record_results([result]),
        )

    def on_written(self, tickets: list[Ticket]) -> None:
        """SessionHandler: these submit_sm are about to be written to an SMSC socket."""
        segments = [(t.message_id, t.segment.seq) for t in tickets]
        at = self._clock()
        self._pending_writes.write(
            f"record_written {segments[0][0]}/{segments[0][1]} ({len(segments)})",
            lambda: self.store.record_written(segments, at),
        )

    def _retry(self, ticket: Ticket, status: str, unanswered: bool = False) -> None:
        """Schedule the segment again; `unanswered`: it was written and the link fell or
        timed out, so the SMSC may have it already (a possible duplicate)."""
        if self._stopping.is_set():
            return  # still written and unanswered in the store: counted when reclaimed
        if unanswered:
            metrics.POSSIBLE_DUPLICATES.inc()
        if self._clock() > ticket.progress.claimed.expires_at:
            self._fail(
                ticket.progress, f"validity expired while retrying ({status})", None, "expired"
            )
            return
        ticket.attempt += 1
        metrics.SUBMIT_RETRIES.labels(status).inc()
        delay = backoff_delay(
            ticket.attempt, self._smpp.retry_min_delay, self._smpp.retry_max_delay
        )
        self._retries.add(ticket, delay)

    def _retry_loop(self) -> None:
        while not self._stopping.is_set():
            for ticket in self._retries.take_due(timeout=0.5):
                if not ticket.progress.done:
                    self._ready.put_front(ticket)
            if self._pending_writes:
                self._pending_writes.retry()

    def _maintenance_loop(self) -> None:
        """Slow periodic work: incomplete inbound messages past their timeout, gauges.
        Its writes wait while the store cannot commit: they would only be refused."""
        while not self._stopping.wait(self._maintenance_interval):
            try:
                self._observe_store()
                if not self.store.writable():
                    continue
                before = self._clock() - self._mo_reassembly_timeout
                expired = self.store.expire_inbound(before)
                if expired:
                    metrics.REASSEMBLY_TIMEOUTS.inc(expired)
                metrics.RECEIPTS_UNMATCHED_NOW.set(self.store.unmatched_receipts())
                self._purge()
            except StoreError as exc:  # the writer has logged the cause already
                log.warning("maintenance pass skipped: %s", exc)
            except Exception:
                log.exception("maintenance pass failed")

    def _observe_store(self) -> None:
        """The store's write health as metrics (the writer keeps the counts)."""
        metrics.STORE_WRITABLE.set(1 if self.store.writable() else 0)
        metrics.STORE_UNRECORDED_WRITES.set(self.store.unrecorded() + len(self._pending_writes))
        failures = self.store.write_failures()
        if failures > self._store_failures_seen:
            metrics.STORE_WRITE_FAILURES.inc(failures - self._store_failures_seen)
        self._store_failures_seen = failures

    def _purge(self) -> None:
        """Retention: one small batch per pass, so no pass holds locks for long."""
        if self._retention.retention <= 0:
            return
        before = self._clock() - self._retention.retention
        purged = self.store.purge(before, self._retention.retention_batch)
        metrics.STORE_PURGED.labels("message").inc(purged.messages)
        metrics.STORE_PURGED.labels("webhook").inc(purged.webhooks)
        metrics.STORE_PURGED.labels("inbound").inc(purged.inbound)
        metrics.STORE_PURGED.labels("receipt").inc(purged.receipts)

    def _complete(self, progress: _Progress) -> None:
        if not self._mark_done(progress):
            return
        self._finish(progress.claimed.id, State.SENT)
        metrics.SUBMIT_LATENCY.observe(max(0.0, self._clock() - progress.claimed.created_at))

    def _fail(self, progress: _Progress, error: str, smpp_status: int | None, reason: str) -> None:
        if not self._mark_done(progress):
            return
        self._finish(progress.claimed.id, State.FAILED, error=error, smpp_status=smpp_status)
        metrics.MESSAGES_FAILED.labels(reason).inc()
        log.info(
            "message %s failed: %s",
            progress.claimed.id,
            error,
            extra={"message_id": progress.claimed.id},
        )

    def _finish(self, message_id: str, state: State, **details: Any) -> None:
        """Asynchronous and retried, like _record (queued after the message's results)."""
        at = self._clock()
        self._pending_writes.write(
            f"finish {message_id} {state.value}",
            lambda: self.store.finish(message_id, state, at=at, **details),
        )

    def _mark_done(self, progress: _Progress) -> bool:
        with self._lock:
            if progress.done:
                return False
            progress.done = True
            self._progress.pop(progress.claimed.id, None)
            return True

    # -- sessions --------------------------------------------------------------------

    def on_session_state(self, session: str, bound: bool, reason: str) -> None:
        metrics.SESSION_BOUND.labels(session).set(1 if bound else 0)
        if bound:
            metrics.SESSION_BINDS.labels(session).inc()
            log.info("session %s bound", session)
            self._wake.set()
        elif reason != "stopped":
            metrics.SESSION_UNBINDS.labels(session, _reason_class(reason)).inc()


def _reason_class(reason: str) -> str:
    """Collapse free-text reasons into a bounded label set."""
    lowered = reason.lower()
    for key in ("unbound", "enquire_link", "closed", "write failed"):
        if key in lowered:
            return key.replace(" ", "_")
    return "other"

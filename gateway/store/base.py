"""The Store interface: what the engine and the HTTP layer may ask of durable storage.

Written as a Protocol so a backend (SQLite, PostgreSQL) or a test fake only has
to have these methods; nothing outside `store/` knows SQL or which backend it talks to.
Writes go through one writer thread per store, so the methods say whether they wait for
the commit (synchronous) or only enqueue (asynchronous).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from gateway import ids
from gateway.model import (
    ClaimedMessage,
    InboundMessage,
    InboundPart,
    MessageView,
    NewMessage,
    OutboxItem,
    OutboxRow,
    ReceiptRecord,
    SegmentResult,
    State,
    StateChange,
)
from gateway.model_api import Conversion, IdempotencyRecord, ReceiverUsage

CLAIM_TIMEOUT = 10.0  # s the engine waits for a claim; one that commits later is given back


class StoreError(RuntimeError):
    """The store cannot take the write: disk full or failing, locked too long, closed,
    or the write did not commit within its timeout. The caller answers with an error."""


class StoreHooks:
    """What a state change or an inbound message calls for: a webhook outbox row or None.

    Asked inside the write's transaction, so the row commits with the change (aiosmtpd's
    handler hooks are the model: the return value is the answer). This default calls for
    nothing; gateway/webhooks/callbacks.py builds the provider's callbacks. Hooks must be
    pure: the transaction may be rolled back and run again, and nothing they do outside
    their return value would be undone.
    """

    def on_state_change(self, change: StateChange) -> OutboxRow | None:
        return None

    def on_inbound(self, message: InboundMessage) -> OutboxRow | None:
        return None

    def new_id(self) -> str:
        return ids.new_id()

    #: Whether a message keeps its text and segment payloads once final (store.keep_text):
    #: they are personal data, needed until then.
    keep_text: bool = False

    def stops(self, message: InboundMessage) -> bool:
        """Whether an inbound message asks its receiver number to stop (gateway/opt_out.py)."""
        return False


@dataclass
class Effects:
    """What a write did beyond its own rows: reported once it has committed (metrics,
    waking the dispatcher), never from inside the transaction, which may be retried."""

    changes: list[StateChange] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    webhooks: int = 0  # outbox rows queued

    def __bool__(self) -> bool:
        return bool(self.changes or self.inbound or self.webhooks)


class Journal:
    """One execution of a write: asks the hooks and keeps the effects. A fresh one per
    execution, so a batch retried one by one reports each change once."""

    def __init__(self, hooks: StoreHooks) -> None:
        self._hooks = hooks
        self.effects = Effects()
        self.keep_text = hooks.keep_text

    def state_changed(self, change: StateChange) -> OutboxRow | None:
        self.effects.changes.append(change)
        return self._counted(self._hooks.on_state_change(change))

    def inbound(self, message: InboundMessage) -> OutboxRow | None:
        self.effects.inbound.append(message)
        return self._counted(self._hooks.on_inbound(message))

    def stops(self, message: InboundMessage) -> bool:
        return self._hooks.stops(message)

    def new_id(self) -> str:
        return self._hooks.new_id()

    def _counted(self, row: OutboxRow | None) -> OutboxRow | None:
        if row is not None:
            self.effects.webhooks += 1
        return row


class Outcome(NamedTuple):
    """An operation's return value and its effects; the writer hands the value to the
    caller and the effects to the store's observer after the commit."""

    value: Any
    effects: Effects


def journaled(hooks: StoreHooks, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """A writer operation running `fn(conn, journal, *args, **kwargs)` with a fresh Journal."""

    def op(conn: Any) -> Outcome:
        journal = Journal(hooks)
        return Outcome(fn(conn, journal, *args, **kwargs), journal.effects)

    return op


class Store(Protocol):
    """Durable messages, their segments and their history."""

    def accept(self, messages: Sequence[NewMessage], timeout: float = 10.0) -> None:
        """Make new messages durable, state `accepted`; committed when this returns.

        All messages of one call commit in one transaction (a bulk request is all or
        nothing); concurrent callers are grouped into one commit by the writer.
        Raises StoreError when the write fails or `timeout` passes. A failed write or
        commit leaves nothing of the call behind (it was rolled back). After a timeout the
        rows are absent if the writer had not started on them yet (the write is
        cancelled), otherwise they may still commit a moment later: the caller must
        treat the outcome as unknown, never as "not stored".
        """
        ...

    def claim(self, limit: int) -> list[ClaimedMessage]:
        """Move up to `limit` accepted messages, oldest first, to `submitting`.

        One write transaction; increments attempts and records a `submitting` event.
        PostgreSQL: rows other daemons hold are skipped, the claim carries this daemon's
        owner id and a lease it renews, and `submitting` messages whose lease has passed
        (their daemon died) are claimed again.
        Each message carries only the segments without a successful submit_sm_resp,
        by seq (an empty tuple when all were sent before a restart).
        """
        ...

    def record_written(self, segments: Sequence[tuple[str, int]], at: float) -> None:
        """(message_id, seq) of submit_sm about to be written to an SMSC socket, queued
        before the bytes leave. Asynchronous, like record_results (and ahead of it): a
        crash before the answer leaves the segment written and unanswered, which is what
        a later claim counts as a possible duplicate (ClaimedMessage.unanswered)."""
        ...

    def record_results(self, results: Sequence[SegmentResult]) -> None:
        """Record submit_sm outcomes (SMSC id, status, time) per segment. Asynchronous:
        returns once enqueued; blocks only if the writer queue is full, and then raises
        StoreError after a short bound. When the store fails (disk full, I/O error, lost
        connection) the write is kept in memory and retried, in order, until it commits
        or the store closes (then it is logged by id); an operation that fails by itself
        is logged. A segment that already has status 0 is not overwritten."""
        ...

    def finish(
        self,
        message_id: str,
        state: State,
        *,
        error: str | None = None,
        smpp_status: int | None = None,
        at: float,
    ) -> None:
        """Set a message's state (sent, failed, ...) with error and SMPP status, and add a
        history event. Asynchronous and retried like record_results, on the same writer
        and after it, so a message's results land before its final state."""
        ...

    def requeue_claimed(self) -> int:
        """At the start of a single daemon: every `submitting` message goes back to
        `accepted` (event detail "requeued"). Returns how many: these were in flight at
        the last stop and may be sent twice. Synchronous. PostgreSQL returns 0 and moves
        nothing: other daemons' claims are live; a dead daemon's expire by lease."""
        ...

    def release(self, message_ids: Sequence[str]) -> None:
        """Give back claimed messages that will not be submitted (graceful stop):
        submitting → accepted (event detail "released"). Others are left alone.
        Synchronous."""
        ...

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything enqueued before this call has been committed (or has
        failed and been logged). Raises StoreError on timeout, when closed, and at once
        while the store fails (writes kept for a retry have not been committed)."""
        ...

    def get_message(self, message_id: str) -> MessageView | None:
        """The message with its segments' SMSC ids and its history, or None. Reads
        committed data only, never waits for the writer."""
        ...

    def count_by_state(self) -> dict[str, int]:
        """Number of messages per state value; every State is present (0 when none)."""
        ...

    def pending_count(self) -> int:
        """Messages not yet submitted or in flight: accepted + submitting."""
        ...

    def writable(self) -> bool:
        """Readiness, without waiting: the writers run and none has failed to write since
        its last committed probe. A failed BEGIN, COMMIT or write caused by the store
        (not by the operation) makes it False; the writer then probes with a real
        one-page write (backoff up to writer.RETRY_MAX_DELAY), so it turns True again
        soon after the store can commit, with or without traffic."""
        ...

    def unrecorded(self) -> int:
        """Asynchronous writes the store failed to commit that wait in memory for a
        retry (0 normally). The engine claims no new work while this is not 0."""
        ...

    def write_failures(self) -> int:
        """Transactions that failed because the store did, since the store opened."""
        ...

    def purge(self, before: float, limit: int = 500) -> Any:
        """Retention: delete up to `limit` finished messages (with their segments, events
        and receipts) created before `before`, and up to `limit` delivered webhooks
        finished before it. One short transaction; returns retention.Purged counts, so
        the caller repeats while a count equals `limit`."""
        ...

    def void_webhook_leases(self) -> int:
        """When a daemon's dispatcher starts: the leases a dead dispatcher left are void
        (SQLite: one daemon owns the file). Returns how many. Only the daemon calls this,
        never an admin command: voiding the leases of a running dispatcher would deliver
        its webhooks in flight a second time. PostgreSQL returns 0 (leases expire)."""
        ...

    def on_new_work(self, callback: Callable[[], None]) -> None:
        """Call `callback` when another daemon accepts messages (PostgreSQL: LISTEN);
        a no-op where one daemon owns the store."""
        ...

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued, stop the writer, close connections. Idempotent; every
        later write raises StoreError."""
        ...

    # -- receipts, inbound messages, webhook outbox (migration 0002) -------------------

    def record_receipt(self, receipt: ReceiptRecord) -> Future[Any]:
        """Keep a receipt and apply it (segment state, message state, callback) in one
        transaction. The Future resolves when committed: only then may the SMSC get its
        deliver_sm_resp. Returns a Future of whether it matched a segment; an unmatched
        receipt is kept and matched when its submit_sm_resp is recorded."""
        ...

    def record_inbound(self, part: InboundPart) -> Future[Any]:
        """Keep one inbound part; a complete message gets its webhook queued. Resolves on
        commit, like record_receipt."""
        ...

    def expire_inbound(self, before: float) -> int:
        """Deliver incomplete inbound messages whose first part arrived before `before`."""
        ...

    def claim_outbox(self, limit: int, lease: float) -> list[OutboxItem]:
        """Lease up to `limit` due webhooks for `lease` seconds and count the attempt."""
        ...

    def outbox_delivered(self, item_id: str, at: float) -> None:
        """Asynchronous, retried like record_results: the receiver answered 2xx. Losing
        it would deliver the webhook again once its lease ends."""
        ...

    def outbox_retry(self, item_id: str, next_at: float, error: str) -> None:
        """Asynchronous: try again at `next_at`."""
        ...

    def outbox_dead(self, item_id: str, error: str, at: float) -> None:
        """Asynchronous: give up; kept as a dead letter with the last error."""
        ...

    def replay_dead(self, ids: Sequence[str] | None = None) -> int:
        """Dead letters (all, or `ids`) back to pending; returns how many."""
        ...

    def list_dead(self, limit: int = 100) -> list[OutboxItem]: ...

    def outbox_depth(self) -> int:
        """Webhooks waiting for delivery."""
        ...

    def outbox_next_due(self) -> float | None:
        """When the first pending webhook no dispatcher holds falls due; None: none. A
        read, so an idle dispatcher can wait that long instead of claiming (a write)."""
        ...

    def unmatched_receipts(self) -> int:
        """Receipts that matched no message (yet)."""
        ...

    # -- API extras: idempotency, conversions, usage (issue 4) ------------------------

    def accept_idempotent(
        self, messages: Sequence[NewMessage], record: IdempotencyRecord, timeout: float = 10.0
    ) -> IdempotencyRecord | None:
        """accept() plus the request's idempotency record, in one transaction.

        Why one transaction: a crash between the two writes would either send without
        remembering the key (a repeat sends again) or remember an answer whose messages
        were never stored. Returns None when both were stored. When an unexpired record
        for (record.api_key_id, record.key) exists already (an earlier request, or a
        concurrent one that committed first), nothing is written and that record is
        returned, so one key never sends twice. Expired records are deleted on the way.
        Raises StoreError as accept() does.
        """
        ...

    def get_idempotency(self, api_key_id: str, key: str, now: float) -> IdempotencyRecord | None:
        """The unexpired record for (api_key_id, key), or None. A read: lets a repeat be
        answered without composing or waiting for the writer."""
        ...

    def mark_converted(self, message_id: str, api_key_id: str, at: float) -> Conversion:
        """Record that a message sent with this API key converted (POST /sms/converted).
        Synchronous. A repeat keeps the first time and answers REPEATED; an id unknown
        to this key answers UNKNOWN."""
        ...

    def take_token(self, bucket: str, rate: float, burst: float) -> float:
        """Take one token from a rate limit's bucket, shared by every process and daemon
        on this store: 0.0 when taken, else the seconds until one will be there.
        Synchronous (a write): for limits checked per request, not per message."""
        ...

    def take_tokens(
        self, bucket: str, rate: float, burst: float, count: int, whole: bool = False
    ) -> tuple[int, float]:
        """Take up to `count` tokens at once: (taken, 0.0), or (0, seconds until one);
        `whole`: all or none (a request's parts). Synchronous; for a per-message limit,
        taken in batches (account_rate.py)."""
        ...

    def spend_quota(self, client: str, limits: Sequence[tuple[str, int]], parts: int) -> str | None:
        """Count a request's parts against a client's quotas, all or none: the period
        (e.g. "2026-12-01") whose quota is spent, or None when counted. Synchronous."""
        ...

    def client_counts(self, since: float) -> dict[str, int]:
        """Messages accepted since `since`, per client (GET /status). A read."""
        ...

    def quota_used(self, periods: Sequence[str]) -> dict[tuple[str, str], int]:
        """(client, period) -> SMS parts counted against its quotas (GET /status)."""
        ...

    def opted_out(self, sender: str, receivers: Sequence[str]) -> set[str]:
        """Which of `receivers` asked `sender` to stop (the opt-out list). A read."""
        ...

    def add_opt_out(self, sender: str, receiver: str, reason: str) -> None:
        """Put `receiver` on `sender`'s opt-out list (again: with the new time and reason)."""
        ...

    def remove_opt_out(self, sender: str, receiver: str) -> bool:
        """Take the entry off; False when there was none."""
        ...

    def list_opt_outs(self, limit: int = 100) -> list[tuple[str, str, float, str]]:
        """(sender, receiver, at, reason), newest first."""
        ...

    def usage_by_receiver(
        self, start: float, end: float, client: str | None = None
    ) -> list[ReceiverUsage]:
        """Per receiver: messages created in [start, end) of which the SMSC took at least
        one segment, and their summed cost (None when none carried one). Per receiver,
        not per country: the country comes from the number (phonenumbers), outside SQL."""
        ...

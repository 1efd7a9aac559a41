"""PostgreSQL-only SQL: claims with owner and lease, lease renewal, outbox claims.

Everything else is the portable SQL of store/sql/ run
through conn.PgConnection. What differs is sharing work between daemons:
`FOR UPDATE SKIP LOCKED` lets two daemons claim at once without waiting for each other
or taking the same row, and the owner + lease columns let a live daemon keep its
claims while a dead daemon's claims become claimable again when their lease passes.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from gateway import lifecycle
from gateway.model import ClaimedMessage, OutboxItem, ReceiptRecord, State, SubmitParams
from gateway.store.base import Journal
from gateway.store.sql import messages as ops
from gateway.store.sql import outbox, states
from gateway.store.sql.history import CODES

WORK_CHANNEL = "smpp_gateway_work"  # NOTIFY'd when accepted messages commit
_SUBMIT = ", ".join(f"m.{f.name}" for f in fields(SubmitParams))
_ACCEPTED, _SUBMITTING = State.ACCEPTED.value, State.SUBMITTING.value
# history.line() in SQL, for the lines PostgreSQL writes in the statement that moves the
# message: the offset from created_at in microseconds, the state, the detail.
_OFFSET = "CAST(ROUND((%(now)s - m.created_at) * 1000000) AS BIGINT)"

# Oldest first among accepted messages and another daemon's submitting ones whose lease
# has passed. `was` tells a fresh claim from a reclaimed one (a dead daemon's lease
# expired). Never this daemon's own: they are in its engine's hands even when a renewal
# came late (it waits in the writer queue), and taking them again would submit them twice.
_CLAIM = f"""
WITH picked AS (
    SELECT id, state AS was FROM messages
    WHERE state = '{_ACCEPTED}'
       OR (state = '{_SUBMITTING}' AND lease_until < %(now)s
           AND claimed_by IS DISTINCT FROM %(owner)s)
    ORDER BY created_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE messages m SET state = '{_SUBMITTING}', attempts = m.attempts + 1,
    claimed_by = %(owner)s, lease_until = %(until)s,
    history = m.history || chr(10) || {_OFFSET} || ':{CODES[State.SUBMITTING]}:attempt '
        || (m.attempts + 1) || CASE WHEN picked.was = '{_ACCEPTED}' THEN ''
        ELSE ' (lease expired)' END
FROM picked WHERE m.id = picked.id
RETURNING m.id, m.segment_count, m.expires_at, m.created_at, m.attempts, picked.was, {_SUBMIT}
"""

# SKIP LOCKED: a row another transaction holds (its receipt, a reclaim) is renewed next time.
_RENEW = f"""
UPDATE messages SET lease_until = %s WHERE id IN (
    SELECT id FROM messages WHERE state = '{_SUBMITTING}' AND claimed_by = %s
    FOR UPDATE SKIP LOCKED)
"""

_CLAIM_OUTBOX = f"""
WITH picked AS (
    SELECT id, lease_until AS old_lease FROM webhook_outbox
    WHERE state = 'pending' AND next_attempt_at <= %(now)s
      AND (lease_until IS NULL OR lease_until < %(now)s)
    ORDER BY next_attempt_at LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_outbox o SET lease_until = %(until)s, attempts = o.attempts + 1
FROM picked WHERE o.id = picked.id
RETURNING {", ".join("o." + c.strip() for c in outbox.OUTBOX_COLUMNS.split(","))},
    o.attempts, o.state, o.last_error, picked.old_lease IS NOT NULL, o.next_attempt_at
"""


@dataclass(frozen=True)
class Claimed:
    messages: list[ClaimedMessage]
    reclaimed: int  # of them, taken over from an expired lease


def claim(conn: Any, *, limit: int, now: float, owner: str, lease: float) -> Claimed:
    """Claim up to `limit` messages for `owner` until now + lease."""
    params = {"now": now, "limit": limit, "owner": owner, "until": now + lease}
    rows = sorted(conn.execute_native(_CLAIM, params).fetchall(), key=lambda r: r[3])
    if not rows:
        return Claimed([], 0)
    messages = ops.claimed_messages(conn, rows, submit_from=6)  # column 5: previous state
    return Claimed(messages, sum(1 for r in rows if r[5] != _ACCEPTED))


def renew(conn: Any, *, owner: str, until: float) -> int:
    """Extend this daemon's claims still in flight; returns how many."""
    return conn.execute_native(_RENEW, (until, owner)).rowcount


def claim_outbox(
    conn: Any, *, limit: int, now: float, lease: float
) -> tuple[list[OutboxItem], int]:
    """Lease due webhooks no other daemon holds; returns them and how many were reclaimed
    from an expired lease."""
    params = {"now": now, "limit": limit, "until": now + lease}
    rows = sorted(conn.execute_native(_CLAIM_OUTBOX, params).fetchall(), key=lambda r: r[-1])
    items = outbox.items([r[:12] for r in rows])
    return items, sum(1 for r in rows if r[12])


def accept(rows: ops.AcceptRows, conn: Any) -> None:
    """Insert, and wake idle daemons when this commits (NOTIFY is delivered at commit)."""
    ops.insert(rows, conn)
    conn.notify_at_commit(WORK_CHANNEL)


def probe(conn: Any) -> None:
    """A real write: assigning a transaction id makes the commit write a WAL record."""
    conn.execute_native("SELECT pg_current_xact_id()").fetchone()


# A receipt in one round trip: match it (exact key first, then the hex/decimal readings;
# newest submit wins) and mark its segment, or else keep it for later; return the
# segments' receipt states as they are after this one. The same rules as sql/states.py
# record_receipt, which needs several statements; on PostgreSQL each is a round trip.
_RECEIPT = f"""
WITH seg AS (
    SELECT message_id, seq FROM segments WHERE {states.SEGMENT_KEY} = ANY(%(keys)s)
    ORDER BY ({states.SEGMENT_KEY} = %(key)s) DESC, submitted_at DESC NULLS LAST LIMIT 1
), kept AS (
    INSERT INTO receipts (received_at, session, smsc_message_id, id_key, stat, state,
        error_code, done_date)
    SELECT %(at)s, %(session)s, %(smsc_id)s, %(key)s, %(stat)s, %(state)s, %(err)s, %(done)s
    WHERE NOT EXISTS (SELECT 1 FROM seg)
), marked AS (
    UPDATE segments s SET receipt_state = %(state)s, receipt_error = %(err)s, receipt_at = %(at)s
    FROM seg WHERE s.message_id = seg.message_id AND s.seq = seg.seq
)
SELECT seg.message_id,
    array_agg(CASE WHEN s.seq = seg.seq THEN %(state)s ELSE s.receipt_state END ORDER BY s.seq)
FROM seg JOIN segments s ON s.message_id = seg.message_id GROUP BY seg.message_id
"""


def record_receipt(conn: Any, journal: Journal, r: ReceiptRecord) -> bool:
    """Apply the receipt to its segment and message now if the segment's id is known, else
    keep it (record_results matches it later). Returns whether it matched."""
    params = {
        "keys": list(r.id_keys),
        "key": r.id_keys[0],
        "at": r.received_at,
        "session": r.session,
        "smsc_id": r.smsc_message_id,
        "stat": r.stat,
        "state": r.state.value,
        "err": r.error_code,
        "done": r.done_date,
    }
    row = conn.execute_native(_RECEIPT, params).fetchone()
    if row is None:
        return False
    message_id, segment_states = row
    decided = lifecycle.decide(
        [states.segment_state(s) for s in segment_states], len(segment_states)
    )
    if decided is not None:
        states.transition(
            conn,
            journal,
            message_id,
            decided,
            r.received_at,
            detail=f"receipt {r.state.public}",
            error_code=r.error_code,
        )
    return True


def release(conn: Any, *, ids: list[str], owner: str, now: float) -> int:
    """submitting → accepted for this daemon's own claims only: a claim another daemon
    took over (this one stalled past its lease) is that daemon's to finish."""
    rows = conn.execute_native(
        f"UPDATE messages m SET state = '{_ACCEPTED}', claimed_by = NULL, lease_until = NULL,"
        f" history = m.history || chr(10) || {_OFFSET} || ':{CODES[State.ACCEPTED]}:released'"
        f" WHERE m.id = ANY(%(ids)s) AND m.state = '{_SUBMITTING}' AND m.claimed_by = %(owner)s"
        " RETURNING m.id",
        {"now": now, "ids": ids, "owner": owner},
    ).fetchall()
    return len(rows)

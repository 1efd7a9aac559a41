"""SQL for receipts, state changes, inbound messages and the webhook outbox.

Every function runs inside the writer's transaction, so a receipt, the message state it
causes and the callback it calls for are committed together or not at all. What a
callback looks like is not the store's business: `StoreHooks` turns a state change or
an inbound message into an `OutboxRow` (gateway/webhooks/callbacks.py).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from gateway import lifecycle, receipts
from gateway.model import (
    InboundMessage,
    InboundPart,
    OutboxItem,
    OutboxRow,
    ReceiptRecord,
    State,
    StateChange,
)
from gateway.sms.decoding import join_surrogates

_EVENT = "INSERT INTO message_events (message_id, at, state, detail) VALUES (?, ?, ?, ?)"
_OUTBOX_COLUMNS = "id, kind, message_id, created_at, url, method, content_type, body"


def _no_outbox(_: object) -> OutboxRow | None:
    return None


@dataclass(frozen=True)
class StoreHooks:
    on_state_change: Callable[[StateChange], OutboxRow | None] = _no_outbox
    on_inbound: Callable[[InboundMessage], OutboxRow | None] = _no_outbox
    new_id: Callable[[], str] = field(default=lambda: str(uuid.uuid4()))


# -- state changes -------------------------------------------------------------------------


def transition(
    conn: sqlite3.Connection,
    hooks: StoreHooks,
    message_id: str,
    new: State,
    at: float,
    *,
    detail: str | None = None,
    error: str | None = None,
    smpp_status: int | None = None,
    error_code: int | None = None,
) -> bool:
    """Move a message to `new` if allowed; record the event and queue its callback."""
    row = conn.execute(  # one round trip on PostgreSQL: the first submit time comes along
        "SELECT state, receiver, reference, callback, notify_statuses, cost,"
        " (SELECT MIN(submitted_at) FROM segments WHERE message_id = messages.id"
        " AND command_status = 0) FROM messages WHERE id = ?",
        (message_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"no message {message_id}")
    if not lifecycle.allowed(State(row[0]), new):
        return False
    done_at = at if new.final else None
    conn.execute(
        "UPDATE messages SET state = ?, state_changed_at = ?, error = COALESCE(?, error),"
        " smpp_status = COALESCE(?, smpp_status), error_code = COALESCE(?, error_code),"
        " done_at = COALESCE(?, done_at) WHERE id = ?",
        (new.value, at, error, smpp_status, error_code, done_at, message_id),
    )
    conn.execute(_EVENT, (message_id, at, new.value, detail if detail is not None else error))
    change = StateChange(
        message_id=message_id,
        state=new,
        at=at,
        receiver=row[1],
        reference=row[2],
        callback=row[3],
        notify_statuses=tuple(s for s in row[4].split(",") if s),
        submitted_at=row[6],
        error_code=error_code,
        cost=row[5],
    )
    outbox = hooks.on_state_change(change)
    if outbox is not None:
        insert_outbox(conn, outbox, at)
    return True


# -- receipts ------------------------------------------------------------------------------


def record_results(rows: list[tuple], conn: sqlite3.Connection, hooks: StoreHooks) -> None:
    """rows: (smsc_message_id, command_status, at, message_id, seq). Receipts that came
    before their submit_sm_resp are matched here, the moment the id is known."""
    conn.executemany(
        "UPDATE segments SET smsc_message_id = ?, command_status = ?, submitted_at = ?,"
        " smsc_id_key = ? WHERE message_id = ? AND seq = ?"
        " AND (command_status IS NULL OR command_status != 0)",
        [
            (smsc_id, status, at, _key(smsc_id) if status == 0 else None, mid, seq)
            for smsc_id, status, at, mid, seq in rows
        ],
    )
    for smsc_id, status, _at, message_id, seq in rows:
        if status == 0 and smsc_id:
            _match_waiting_receipts(conn, hooks, smsc_id, message_id, seq)


def _key(smsc_id: str | None) -> str | None:
    forms = receipts.normalize_id(smsc_id) if smsc_id else ()
    return forms[0] if forms else None


def _match_waiting_receipts(
    conn: sqlite3.Connection, hooks: StoreHooks, smsc_id: str, message_id: str, seq: int
) -> None:
    keys = receipts.normalize_id(smsc_id)
    marks = ",".join("?" * len(keys))
    waiting = conn.execute(
        f"SELECT id, state, error_code, received_at FROM receipts WHERE message_id IS NULL"
        f" AND id_key IN ({marks}) ORDER BY id",
        keys,
    ).fetchall()
    for receipt_id, state, error_code, received_at in waiting:
        apply_receipt(
            conn, hooks, receipt_id, message_id, seq, State(state), error_code, received_at
        )


def record_receipt(conn: sqlite3.Connection, hooks: StoreHooks, r: ReceiptRecord) -> bool:
    """Keep the receipt; match it to its segment now if the segment's id is known."""
    cur = conn.execute(  # RETURNING, not lastrowid: the PostgreSQL adapter has no lastrowid
        "INSERT INTO receipts (received_at, session, smsc_message_id, id_key, stat, state,"
        " error_code, done_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            r.received_at,
            r.session,
            r.smsc_message_id,
            r.id_keys[0],
            r.stat,
            r.state.value,
            r.error_code,
            r.done_date,
        ),
    )
    receipt_id = cur.fetchone()[0]
    segment = _find_segment(conn, r.id_keys)
    if segment is None:
        return False
    apply_receipt(conn, hooks, receipt_id, *segment, r.state, r.error_code, r.received_at)
    return True


def _find_segment(conn: sqlite3.Connection, keys: Sequence[str]) -> tuple[str, int] | None:
    """Exact key first; then the other readings (hex↔decimal); newest submit wins ties."""
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT message_id, seq, smsc_id_key FROM segments WHERE smsc_id_key IN ({marks})"
        " ORDER BY submitted_at DESC",
        tuple(keys),
    ).fetchall()
    if not rows:
        return None
    exact = [r for r in rows if r[2] == keys[0]]
    best = (exact or rows)[0]
    return best[0], best[1]


def apply_receipt(
    conn: sqlite3.Connection,
    hooks: StoreHooks,
    receipt_id: int,
    message_id: str,
    seq: int,
    state: State,
    error_code: int | None,
    at: float,
) -> None:
    conn.execute(
        "UPDATE receipts SET message_id = ?, seq = ?, matched_at = ? WHERE id = ?",
        (message_id, seq, at, receipt_id),
    )
    conn.execute(
        "UPDATE segments SET receipt_state = ?, receipt_error = ?, receipt_at = ?"
        " WHERE message_id = ? AND seq = ?",
        (state.value, error_code, at, message_id, seq),
    )
    states = [
        segment_state(r[0])
        for r in conn.execute(
            "SELECT receipt_state FROM segments WHERE message_id = ? ORDER BY seq", (message_id,)
        )
    ]
    decided = lifecycle.decide(states, len(states))
    if decided is not None:
        transition(
            conn,
            hooks,
            message_id,
            decided,
            at,
            detail=f"receipt {state.public}",
            error_code=error_code,
        )


def segment_state(value: str | None) -> State | None:
    """A segment's stored receipt state (migration 0005 made every value a State value)."""
    return State(value) if value else None


def unmatched_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM receipts WHERE message_id IS NULL").fetchone()[0]


# -- inbound -------------------------------------------------------------------------------


def record_inbound(conn: sqlite3.Connection, hooks: StoreHooks, part: InboundPart) -> None:
    """Keep a part; when its message is complete, assemble it and queue the webhook."""
    if part.reference is None or part.total <= 1:
        message = InboundMessage(
            hooks.new_id(),
            part.received_at,
            part.sender,
            part.receiver,
            part.coding,
            part.text,
            1,
            True,
        )
        _deliver_inbound(conn, hooks, message)
        return
    group = f"{part.sender}|{part.receiver}|{part.reference}|{part.total}"
    conn.execute(
        "INSERT INTO inbound_parts (received_at, group_key, number, total, sender, receiver,"
        " coding, text) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            part.received_at,
            group,
            part.number,
            part.total,
            part.sender,
            part.receiver,
            part.coding,
            part.text,
        ),
    )
    have = conn.execute(
        "SELECT COUNT(*) FROM inbound_parts WHERE group_key = ?", (group,)
    ).fetchone()[0]
    if have >= part.total:
        _assemble(conn, hooks, group, complete=True)


def expire_inbound(conn: sqlite3.Connection, hooks: StoreHooks, before: float) -> int:
    """Deliver what arrived of messages whose first part is older than `before`."""
    groups = [
        r[0]
        for r in conn.execute(
            "SELECT group_key FROM inbound_parts GROUP BY group_key HAVING MIN(received_at) < ?",
            (before,),
        )
    ]
    for group in groups:
        _assemble(conn, hooks, group, complete=False)
    return len(groups)


def _assemble(conn: sqlite3.Connection, hooks: StoreHooks, group: str, complete: bool) -> None:
    parts = conn.execute(
        "SELECT received_at, sender, receiver, coding, text, total FROM inbound_parts"
        " WHERE group_key = ? ORDER BY number",
        (group,),
    ).fetchall()
    text = "".join(p[4] for p in parts)
    first = parts[0]
    message = InboundMessage(
        hooks.new_id(),
        first[0],
        first[1],
        first[2],
        first[3],
        join_surrogates(text),
        first[5],
        complete,
    )
    conn.execute("DELETE FROM inbound_parts WHERE group_key = ?", (group,))
    _deliver_inbound(conn, hooks, message)


def _deliver_inbound(conn: sqlite3.Connection, hooks: StoreHooks, m: InboundMessage) -> None:
    conn.execute(
        "INSERT INTO inbound_messages (id, received_at, sender, receiver, coding, text, parts,"
        " complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (m.id, m.received_at, m.sender, m.receiver, m.coding, m.text, m.parts, int(m.complete)),
    )
    outbox = hooks.on_inbound(m)
    if outbox is not None:
        insert_outbox(conn, outbox, m.received_at)


# -- outbox --------------------------------------------------------------------------------


def insert_outbox(conn: sqlite3.Connection, row: OutboxRow, now: float) -> None:
    conn.execute(
        f"INSERT INTO webhook_outbox ({_OUTBOX_COLUMNS}, state, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        (
            row.id,
            row.kind,
            row.message_id,
            row.created_at,
            row.url,
            row.method,
            row.content_type,
            row.body,
            now,
        ),
    )


def _items(rows: Sequence[tuple]) -> list[OutboxItem]:
    return [
        OutboxItem(OutboxRow(*r[:7], bytes(r[7]) if r[7] is not None else None), r[8], r[9], r[10])
        for r in rows
    ]


def claim_outbox(
    conn: sqlite3.Connection, *, limit: int, now: float, lease: float
) -> list[OutboxItem]:
    """Due, pending, not leased by another dispatcher: lease them and count the attempt."""
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS}, attempts + 1, state, last_error FROM webhook_outbox"
        " WHERE state = 'pending' AND next_attempt_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT ?",
        (now, now, limit),
    ).fetchall()
    conn.executemany(
        "UPDATE webhook_outbox SET lease_until = ?, attempts = attempts + 1 WHERE id = ?",
        [(now + lease, r[0]) for r in rows],
    )
    return _items(rows)


def outbox_delivered(conn: sqlite3.Connection, *, item_id: str, at: float) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET state = 'delivered', finished_at = ?, lease_until = NULL,"
        " last_error = NULL WHERE id = ?",
        (at, item_id),
    )


def outbox_retry(conn: sqlite3.Connection, *, item_id: str, next_at: float, error: str) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET next_attempt_at = ?, lease_until = NULL, last_error = ?"
        " WHERE id = ? AND state = 'pending'",
        (next_at, error, item_id),
    )


def outbox_dead(conn: sqlite3.Connection, *, item_id: str, error: str, at: float) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET state = 'dead', last_error = ?, finished_at = ?,"
        " lease_until = NULL WHERE id = ?",
        (error, at, item_id),
    )


def list_dead(conn: sqlite3.Connection, *, limit: int) -> list[OutboxItem]:
    rows = conn.execute(
        f"SELECT {_OUTBOX_COLUMNS}, attempts, state, last_error FROM webhook_outbox"
        " WHERE state = 'dead' ORDER BY finished_at LIMIT ?",
        (limit,),
    ).fetchall()
    return _items(rows)


def replay(conn: sqlite3.Connection, *, ids: Sequence[str] | None, now: float) -> int:
    """Dead letters back to pending, attempts reset; all of them when `ids` is None."""
    sql = (
        "UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?,"
        " finished_at = NULL, lease_until = NULL WHERE state = 'dead'"
    )
    if ids is None:
        return conn.execute(sql, (now,)).rowcount
    return sum(conn.execute(sql + " AND id = ?", (now, i)).rowcount for i in ids)


def outbox_depth(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'").fetchone()[0]

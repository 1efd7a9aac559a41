"""SQL of a message's state: transitions, submit results and delivery receipts.

Every function runs inside the writer's transaction, so a receipt, the state it causes and
the callback that state calls for commit together or not at all. What a state change
calls for is not the store's business: the `Journal` asks the hooks (base.py) and keeps
what happened, which the store reports once the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway import lifecycle, receipts
from gateway.model import ReceiptRecord, State, StateChange
from gateway.store.base import Journal
from gateway.store.sql import Connection, history, outbox, together


def transition(
    conn: Connection,
    journal: Journal,
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
        " AND command_status = 0), created_at, client FROM messages WHERE id = ?",
        (message_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"no message {message_id}")
    if not lifecycle.allowed(State(row[0]), new):
        return False
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
        client=row[8],
    )
    webhook = journal.state_changed(change)
    entry = history.line(at, row[7], new.value, detail if detail is not None else error)
    scrub = new.final and not journal.keep_text  # personal data, no longer needed
    with together(conn):
        conn.execute(
            "UPDATE messages SET state = ?, error = COALESCE(?, error),"
            " smpp_status = COALESCE(?, smpp_status), error_code = COALESCE(?, error_code),"
            f" {history.APPEND}, text = CASE WHEN ? = 1 THEN '' ELSE text END WHERE id = ?",
            (new.value, error, smpp_status, error_code, entry, int(scrub), message_id),
        )
        if scrub:
            conn.execute("UPDATE segments SET payload = ? WHERE message_id = ?", (b"", message_id))
        if webhook is not None:
            outbox.insert(conn, webhook, at)
    return True


# -- receipts ------------------------------------------------------------------------------


def record_results(conn: Connection, journal: Journal, rows: list[tuple]) -> None:
    """rows: (smsc_message_id, command_status, at, message_id, seq). Receipts that came
    before their submit_sm_resp are matched here, the moment the id is known: looked up
    in the same round trip as the update (PostgreSQL), for the whole batch at once."""
    accepted = [
        (set(receipts.normalize_id(smsc_id)), mid, seq)
        for smsc_id, status, _at, mid, seq in rows
        if status == 0 and smsc_id
    ]
    keys = sorted(set().union(*(readings for readings, _, _ in accepted)))
    with together(conn):
        conn.executemany(
            "UPDATE segments SET smsc_message_id = ?, command_status = ?, submitted_at = ?,"
            " smsc_id_key = ?, written_at = CASE WHEN ? = 0 THEN NULL ELSE written_at END"
            " WHERE message_id = ? AND seq = ? AND (command_status IS NULL OR command_status != 0)",
            [
                (smsc_id, status, at, stored_key(smsc_id, status), status, mid, seq)
                for smsc_id, status, at, mid, seq in rows
            ],
        )
        found = _waiting_receipts(conn, keys) if keys else None
    if found is not None:
        _match_waiting_receipts(conn, journal, accepted, found.fetchall())


#: The key a receipt finds its segment by: smsc_id_key holds it only where it differs
#: from the id as the SMSC wrote it (most ids are their own key: the column stays empty).
#: Indexed as this expression (migration 0009): queries must spell it the same way.
SEGMENT_KEY = "COALESCE(smsc_id_key, smsc_message_id)"


def stored_key(smsc_id: str | None, status: int) -> str | None:
    """smsc_id_key for a segment answered `status` with `smsc_id`: None where the id is
    its own key, '' (matches no receipt) where the SMSC refused it."""
    if not smsc_id:
        return None
    if status != 0:
        return ""
    forms = receipts.normalize_id(smsc_id)
    key = forms[0] if forms else ""
    return None if key == smsc_id else key


def _waiting_receipts(conn: Connection, keys: Sequence[str]) -> Any:
    """Receipts kept unmatched whose key is one of `keys`, oldest first (a cursor)."""
    marks = ",".join("?" * len(keys))
    return conn.execute(
        f"SELECT id, state, error_code, received_at, id_key FROM receipts"
        f" WHERE message_id IS NULL AND id_key IN ({marks}) ORDER BY id",
        tuple(keys),
    )


def _match_waiting_receipts(
    conn: Connection,
    journal: Journal,
    accepted: list[tuple[set[str], str, int]],
    waiting: list[tuple],
) -> None:
    """Each waiting receipt goes to the first segment (in the batch's order) whose id
    reads as its key, oldest receipt first, as if each segment had looked on its own."""
    for readings, message_id, seq in accepted:
        for receipt_id, state, error, at, id_key in waiting:
            if id_key in readings:
                apply_receipt(conn, journal, receipt_id, message_id, seq, State(state), error, at)
        waiting = [w for w in waiting if w[4] not in readings]


def record_receipt(conn: Connection, journal: Journal, r: ReceiptRecord) -> bool:
    """Match the receipt to its segment if the segment's id is known; else keep it until
    its submit_sm_resp brings the id (record_results)."""
    segment = _find_segment(conn, r.id_keys)
    if segment is not None:
        apply_receipt(conn, journal, None, *segment, r.state, r.error_code, r.received_at)
        return True
    conn.execute(
        "INSERT INTO receipts (received_at, session, smsc_message_id, id_key, stat, state,"
        " error_code, done_date) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
    return False


def _find_segment(conn: Connection, keys: Sequence[str]) -> tuple[str, int] | None:
    """Exact key first; then the other readings (hex↔decimal); newest submit wins ties."""
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT message_id, seq, {SEGMENT_KEY} FROM segments WHERE {SEGMENT_KEY} IN ({marks})"
        " ORDER BY submitted_at DESC",
        tuple(keys),
    ).fetchall()
    if not rows:
        return None
    exact = [r for r in rows if r[2] == keys[0]]
    best = (exact or rows)[0]
    return best[0], best[1]


def apply_receipt(
    conn: Connection,
    journal: Journal,
    receipt_id: int | None,
    message_id: str,
    seq: int,
    state: State,
    error_code: int | None,
    at: float,
) -> None:
    """The receipt's state onto its segment (and the message); a receipt that waited in
    the receipts table (`receipt_id`) leaves it: what it said is on the segment now."""
    if receipt_id is not None:
        conn.execute("DELETE FROM receipts WHERE id = ?", (receipt_id,))
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
            journal,
            message_id,
            decided,
            at,
            detail=f"receipt {state.public}",
            error_code=error_code,
        )


def segment_state(value: str | None) -> State | None:
    """A segment's stored receipt state (migration 0005 made every value a State value)."""
    return State(value) if value else None


def unmatched_count(conn: Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM receipts WHERE message_id IS NULL").fetchone()[0]

"""The SQL of messages and segments (accept, claim, submit marks, requeue, views), both
backends: functions of a connection, run by a writer or a reader.

Kept apart from the backends (sqlite/store.py, postgres/store.py: connections, threads,
lifecycle) so each file has one job. Write operations run inside the writer's transaction
and never commit themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from operator import attrgetter
from typing import Any

from gateway.model import ClaimedMessage, MessageView, NewMessage, Segment, State, SubmitParams
from gateway.store.sql import Connection, history

_CHUNK = 500  # ids per IN (...) list, far below SQLite's variable limit

# Column order is the dataclasses' field order, so rows and SubmitParams(*row) cannot drift.
_HEAD = ("id", "created_at", "api_key_id", "receiver", "receiver_as_given", "text", "text_length")
_SUBMIT = tuple(f.name for f in fields(SubmitParams))
_TAIL = ("expires_at", "reference", "callback", "notify_statuses", "segment_count", "state")
_COLUMNS = (*_HEAD, *_SUBMIT, *_TAIL, "history", "client")
_INSERT_MESSAGE = (
    f"INSERT INTO messages ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
)
_INSERT_SEGMENT = "INSERT INTO segments (message_id, seq, payload) VALUES (?, ?, ?)"
_head, _submit = attrgetter(*_HEAD), attrgetter(*_SUBMIT)
_UNSENT = "(command_status IS NULL OR command_status != 0)"
_ACCEPTED, _SUBMITTING = State.ACCEPTED.value, State.SUBMITTING.value
PENDING = (_ACCEPTED, _SUBMITTING)
COUNT_BY_STATE = "SELECT state, COUNT(*) FROM messages GROUP BY state"
COUNT_PENDING = f"SELECT COUNT(*) FROM messages WHERE state IN ('{_ACCEPTED}', '{_SUBMITTING}')"


AcceptRows = tuple[list, list]  # message rows, segment rows


def accept_rows(messages: Sequence[NewMessage], now: float) -> AcceptRows:
    """Message and segment rows; built in the caller's thread, so the single writer
    thread only executes them."""
    accepted = State.ACCEPTED.value
    msgs: list[tuple[Any, ...]] = []
    segs: list[tuple[str, int, bytes]] = []
    for m in messages:
        tail = (m.expires_at, m.reference, m.callback, ",".join(m.notify_statuses))
        entered = history.line(now, m.created_at, accepted)
        head = _head(m)
        if m.receiver_as_given == m.receiver:  # kept only where the caller wrote it otherwise
            head = (*head[:4], "", *head[5:])
        msgs.append(
            (*head, *_submit(m.submit), *tail, len(m.segments), accepted, entered, m.client)
        )
        segs.extend((m.id, seg.seq, seg.payload) for seg in m.segments)
    return msgs, segs


def insert(rows: AcceptRows, conn: Connection) -> None:
    """The accept operation: all rows of one accept() call, in the writer's transaction."""
    msgs, segs = rows
    conn.executemany(_INSERT_MESSAGE, msgs)
    conn.executemany(_INSERT_SEGMENT, segs)


def claim(conn: Connection, *, limit: int, now: float) -> list[ClaimedMessage]:
    """Oldest first; rowid breaks ties, so a bulk request keeps its order."""
    sql = (
        "SELECT id, segment_count, expires_at, created_at, attempts + 1, "
        f"{', '.join(_SUBMIT)} FROM messages WHERE state = '{_ACCEPTED}'"
        " ORDER BY created_at, rowid LIMIT ?"
    )
    rows = conn.execute(sql, (limit,)).fetchall()
    if not rows:
        return []
    submitting = State.SUBMITTING.value
    conn.executemany(
        f"UPDATE messages SET state = ?, attempts = ?, {history.APPEND} WHERE id = ?",
        [
            (submitting, r[4], history.line(now, r[3], submitting, f"attempt {r[4]}"), r[0])
            for r in rows
        ],
    )
    return claimed_messages(conn, rows, submit_from=5)


def claimed_messages(conn: Any, rows: list[Any], submit_from: int) -> list[ClaimedMessage]:
    """Claimed rows `(id, segment_count, expires_at, created_at, attempts, ...)` with the
    submit parameters from column `submit_from` on, each with its segments not yet sent."""
    unsent = _unsent_segments(conn, [r[0] for r in rows])
    return [
        ClaimedMessage(
            id=r[0],
            submit=SubmitParams(*r[submit_from:]),
            segments=tuple(segment for segment, _ in unsent.get(r[0], ())),
            segment_count=r[1],
            expires_at=r[2],
            created_at=r[3],
            attempts=r[4],
            unanswered=sum(written for _, written in unsent.get(r[0], ())),
        )
        for r in rows
    ]


def _unsent_segments(conn: Connection, ids: list[str]) -> dict[str, list[tuple[Segment, bool]]]:
    """Segments without a successful submit_sm_resp, by message, in seq order, each with
    whether it was written to an SMSC and never answered (a possible duplicate now)."""
    found: dict[str, list[tuple[Segment, bool]]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        sql = (
            "SELECT message_id, seq, payload, written_at IS NOT NULL AND command_status IS NULL"
            f" FROM segments WHERE message_id IN ({', '.join('?' * len(chunk))}) AND {_UNSENT}"
            " ORDER BY message_id, seq"
        )
        for message_id, seq, payload, unanswered in conn.execute(sql, chunk):
            found.setdefault(message_id, []).append(
                (Segment(seq, bytes(payload)), bool(unanswered))
            )
    return found


def mark_written(conn: Connection, rows: list[tuple[float, str, int]]) -> None:
    """rows: (at, message_id, seq) of submit_sm written to an SMSC socket. The segment's
    last answer no longer stands (command_status NULL) until this attempt's arrives."""
    conn.executemany(
        "UPDATE segments SET written_at = ?, command_status = NULL"
        f" WHERE message_id = ? AND seq = ? AND {_UNSENT}",
        rows,
    )


def requeue(conn: Connection, *, ids: list[str] | None, now: float, detail: str) -> int:
    """submitting → accepted, for `ids` or for every submitting message; returns how many."""
    accepted = State.ACCEPTED.value
    find = f"SELECT id, created_at FROM messages WHERE state = '{_SUBMITTING}'"
    if ids is None:
        rows = conn.execute(find).fetchall()
    else:
        rows = [r for i in ids for r in conn.execute(find + " AND id = ?", (i,)).fetchall()]
    conn.executemany(
        f"UPDATE messages SET state = ?, {history.APPEND} WHERE id = ?",
        [(accepted, history.line(now, r[1], accepted, detail), r[0]) for r in rows],
    )
    return len(rows)


def probe(conn: Connection) -> None:
    """A real write that touches one page (the header), so the commit must reach the disk."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    conn.execute(f"PRAGMA user_version = {int(version)}")


def view(conn: Connection, *, message_id: str) -> MessageView | None:
    row = conn.execute(
        "SELECT id, state, receiver, created_at, text_length, segment_count, reference,"
        " error, smpp_status, history, client FROM messages WHERE id = ?",
        (message_id,),
    ).fetchone()
    if row is None:
        return None
    ids = conn.execute(
        "SELECT smsc_message_id FROM segments WHERE message_id = ? ORDER BY seq", (message_id,)
    )
    receiver, created_at, text_length, segment_count, reference, error, smpp_status = row[2:9]
    return MessageView(
        row[0],
        State(row[1]),
        receiver,
        created_at,
        text_length,
        segment_count,
        reference,
        error,
        smpp_status,
        smsc_message_ids=tuple(r[0] for r in ids),
        history=history.parse(row[9], created_at),
        client=row[10],
    )

"""SQL of the webhook outbox: rows to deliver, leases, outcomes, dead letters, replay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gateway.model import OutboxItem, OutboxRow
from gateway.store.sql import Connection

OUTBOX_COLUMNS = "id, kind, message_id, created_at, url, method, content_type, body, client"


def insert(conn: Connection, row: OutboxRow, now: float) -> None:
    conn.execute(
        f"INSERT INTO webhook_outbox ({OUTBOX_COLUMNS}, state, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
        (
            row.id,
            row.kind,
            row.message_id,
            row.created_at,
            row.url,
            row.method,
            row.content_type,
            row.body,
            row.client,
            now,
        ),
    )


def items(rows: Sequence[tuple[Any, ...]]) -> list[OutboxItem]:
    """Rows of OUTBOX_COLUMNS, then attempts, state and last_error."""
    return [
        OutboxItem(
            OutboxRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                bytes(r[7]) if r[7] is not None else None,
                r[8],
            ),
            r[9],
            r[10],
            r[11],
        )
        for r in rows
    ]


def claim(conn: Connection, *, limit: int, now: float, lease: float) -> list[OutboxItem]:
    """Due, pending, not leased by another dispatcher: lease them and count the attempt."""
    rows = conn.execute(
        f"SELECT {OUTBOX_COLUMNS}, attempts + 1, state, last_error FROM webhook_outbox"
        " WHERE state = 'pending' AND next_attempt_at <= ?"
        " AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_attempt_at LIMIT ?",
        (now, now, limit),
    ).fetchall()
    conn.executemany(
        "UPDATE webhook_outbox SET lease_until = ?, attempts = attempts + 1 WHERE id = ?",
        [(now + lease, r[0]) for r in rows],
    )
    return items(rows)


def void_leases(conn: Connection) -> int:
    """Every pending webhook due to be claimed again now (a single daemon's restart)."""
    return conn.execute(
        "UPDATE webhook_outbox SET lease_until = NULL"
        " WHERE state = 'pending' AND lease_until IS NOT NULL"
    ).rowcount


def delivered(conn: Connection, *, item_id: str, at: float) -> None:
    """A delivered webhook is not kept: its body and URL were 374 of the 1,680 bytes a
    delivered message cost at rest (issue 15), and nothing reads them again. What an
    operator audits is on the message (its state and history) and in the metrics."""
    conn.execute("DELETE FROM webhook_outbox WHERE id = ?", (item_id,))


def retry(conn: Connection, *, item_id: str, next_at: float, error: str) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET next_attempt_at = ?, lease_until = NULL, last_error = ?"
        " WHERE id = ? AND state = 'pending'",
        (next_at, error, item_id),
    )


def dead(conn: Connection, *, item_id: str, error: str, at: float) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET state = 'dead', last_error = ?, finished_at = ?,"
        " lease_until = NULL WHERE id = ?",
        (error, at, item_id),
    )


def list_dead(conn: Connection, *, limit: int) -> list[OutboxItem]:
    rows = conn.execute(
        f"SELECT {OUTBOX_COLUMNS}, attempts, state, last_error FROM webhook_outbox"
        " WHERE state = 'dead' ORDER BY finished_at LIMIT ?",
        (limit,),
    ).fetchall()
    return items(rows)


def replay(conn: Connection, *, ids: Sequence[str] | None, now: float) -> int:
    """Dead letters back to pending, attempts reset; all of them when `ids` is None."""
    sql = (
        "UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?,"
        " finished_at = NULL, lease_until = NULL WHERE state = 'dead'"
    )
    if ids is None:
        return conn.execute(sql, (now,)).rowcount
    return sum(conn.execute(sql + " AND id = ?", (now, i)).rowcount for i in ids)


def next_due(conn: Connection) -> float | None:
    """When the first pending webhook nobody holds falls due (None: none). Walks the
    (state, next_attempt_at) index from its start, past the few leased rows."""
    row = conn.execute(
        "SELECT next_attempt_at FROM webhook_outbox WHERE state = 'pending'"
        " AND lease_until IS NULL ORDER BY next_attempt_at LIMIT 1"
    ).fetchone()
    return None if row is None else float(row[0])


def depth(conn: Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'").fetchone()[0]

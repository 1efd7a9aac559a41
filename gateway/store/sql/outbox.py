"""SQL of the webhook outbox: rows to deliver, leases, outcomes, dead letters, replay."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from gateway.model import OutboxItem, OutboxRow

OUTBOX_COLUMNS = "id, kind, message_id, created_at, url, method, content_type, body"


def insert(conn: sqlite3.Connection, row: OutboxRow, now: float) -> None:
    conn.execute(
        f"INSERT INTO webhook_outbox ({OUTBOX_COLUMNS}, state, next_attempt_at)"
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


def items(rows: Sequence[tuple]) -> list[OutboxItem]:
    return [
        OutboxItem(OutboxRow(*r[:7], bytes(r[7]) if r[7] is not None else None), r[8], r[9], r[10])
        for r in rows
    ]


def claim(conn: sqlite3.Connection, *, limit: int, now: float, lease: float) -> list[OutboxItem]:
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


def void_leases(conn: sqlite3.Connection) -> int:
    """Every pending webhook due to be claimed again now (a single daemon's restart)."""
    return conn.execute(
        "UPDATE webhook_outbox SET lease_until = NULL"
        " WHERE state = 'pending' AND lease_until IS NOT NULL"
    ).rowcount


def delivered(conn: sqlite3.Connection, *, item_id: str, at: float) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET state = 'delivered', finished_at = ?, lease_until = NULL,"
        " last_error = NULL WHERE id = ?",
        (at, item_id),
    )


def retry(conn: sqlite3.Connection, *, item_id: str, next_at: float, error: str) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET next_attempt_at = ?, lease_until = NULL, last_error = ?"
        " WHERE id = ? AND state = 'pending'",
        (next_at, error, item_id),
    )


def dead(conn: sqlite3.Connection, *, item_id: str, error: str, at: float) -> None:
    conn.execute(
        "UPDATE webhook_outbox SET state = 'dead', last_error = ?, finished_at = ?,"
        " lease_until = NULL WHERE id = ?",
        (error, at, item_id),
    )


def list_dead(conn: sqlite3.Connection, *, limit: int) -> list[OutboxItem]:
    rows = conn.execute(
        f"SELECT {OUTBOX_COLUMNS}, attempts, state, last_error FROM webhook_outbox"
        " WHERE state = 'dead' ORDER BY finished_at LIMIT ?",
        (limit,),
    ).fetchall()
    return items(rows)


def replay(conn: sqlite3.Connection, *, ids: Sequence[str] | None, now: float) -> int:
    """Dead letters back to pending, attempts reset; all of them when `ids` is None."""
    sql = (
        "UPDATE webhook_outbox SET state = 'pending', attempts = 0, next_attempt_at = ?,"
        " finished_at = NULL, lease_until = NULL WHERE state = 'dead'"
    )
    if ids is None:
        return conn.execute(sql, (now,)).rowcount
    return sum(conn.execute(sql + " AND id = ?", (now, i)).rowcount for i in ids)


def depth(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM webhook_outbox WHERE state = 'pending'").fetchone()[0]

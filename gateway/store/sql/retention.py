"""Retention: delete finished messages, inbound messages, receipts that never matched a
message and (from stores before migration 0009) delivered webhooks older than a cut-off.

Why in small batches: one DELETE of a month of rows would hold its locks (and, on
SQLite, the only write lock) for seconds, stalling accepts and receipts. Each call
removes at most `limit` rows of each kind in the caller's transaction, so the
engine's maintenance loop can run it once a second and stay out of the way. On
PostgreSQL rows another daemon holds are skipped (SKIP LOCKED), never waited for.
Portable SQL with `?`, run on sqlite3 or through postgres/conn.py's PgConnection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.lifecycle import FINAL, State

# Finished: nothing more will happen to it (a final state, or sent and waiting for a
# receipt longer than any retention age is meant to cover).
FINISHED = tuple(sorted(s.value for s in (*FINAL, State.SENT)))
_CHILDREN = ("receipts", "segments", "conversions")


@dataclass(frozen=True)
class Purged:
    messages: int
    webhooks: int
    inbound: int = 0
    receipts: int = 0


def purge(conn: Any, *, before: float, limit: int, skip_locked: bool) -> Purged:
    """One batch of each kind; the caller calls again while a count equals `limit`."""
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return Purged(
        _purge_messages(conn, before, limit, skip_locked),
        _purge_webhooks(conn, before, limit, skip_locked),
        _purge_oldest(conn, "inbound_messages", "id", "received_at < ?", (before, limit), lock),
        _purge_oldest(
            conn, "receipts", "id", "message_id IS NULL AND received_at < ?", (before, limit), lock
        ),
    )


def _purge_oldest(conn: Any, table: str, key: str, where: str, args: tuple, lock: str) -> int:
    """Up to `limit` (the last argument) rows of `table` matching `where`, oldest first."""
    return conn.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table}"
        f" WHERE {where} ORDER BY received_at LIMIT ?{lock})",
        args,
    ).rowcount


def _purge_messages(conn: Any, before: float, limit: int, skip_locked: bool) -> int:
    marks = ", ".join("?" * len(FINISHED))
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM messages WHERE state IN ({marks}) AND created_at < ?"
            f" ORDER BY created_at LIMIT ?{lock}",
            (*FINISHED, before, limit),
        ).fetchall()
    ]
    if not ids:
        return 0
    in_ids = ", ".join("?" * len(ids))
    for table in _CHILDREN:  # children first: segments reference messages on PostgreSQL
        conn.execute(f"DELETE FROM {table} WHERE message_id IN ({in_ids})", ids)
    conn.execute(f"DELETE FROM messages WHERE id IN ({in_ids})", ids)
    return len(ids)


def _purge_webhooks(conn: Any, before: float, limit: int, skip_locked: bool) -> int:
    lock = " FOR UPDATE SKIP LOCKED" if skip_locked else ""
    return conn.execute(
        "DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox"
        f" WHERE state = 'delivered' AND finished_at < ? ORDER BY finished_at LIMIT ?{lock})",
        (before, limit),
    ).rowcount

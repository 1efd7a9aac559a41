"""Every index of the SQLite store serves a query the store runs, shown with EXPLAIN
QUERY PLAN (issue 15: an index only where a query needs it; each costs bytes per row).

Why a test: an index nothing uses is pure cost, and a query that stops using its index
(a reworded WHERE, a planner that cannot prove a partial index applies) turns into a
table scan that only shows at scale. Each query here is the store's own text (imported
or spelled as the store spells it), and every index in the schema must be claimed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.store import open_store
from gateway.store.sql import api, states
from gateway.store.sql import messages as ops
from gateway.store.sql.retention import FINISHED

FINISHED_MARKS = ", ".join("?" * len(FINISHED))

# index -> (query as the store runs it, its parameters)
QUERIES: dict[str, tuple[str, tuple]] = {
    "messages_state_created": (
        "SELECT id FROM messages WHERE state = 'accepted' ORDER BY created_at, rowid LIMIT ?",
        (10,),
    ),
    "segments_key": (
        f"SELECT message_id, seq FROM segments WHERE {states.SEGMENT_KEY} IN (?, ?)",
        ("1f", "31"),
    ),
    "receipts_id_key": (
        "SELECT id FROM receipts WHERE message_id IS NULL AND id_key IN (?) ORDER BY id",
        ("1f",),
    ),
    "receipts_unmatched": (
        "SELECT id FROM receipts WHERE message_id IS NULL AND received_at < ?"
        " ORDER BY received_at LIMIT ?",
        (1.0, 10),
    ),
    "inbound_parts_received": ("SELECT id FROM inbound_parts WHERE received_at < ?", (1.0,)),
    "inbound_messages_received": (
        "SELECT id FROM inbound_messages WHERE received_at < ? ORDER BY received_at LIMIT ?",
        (1.0, 10),
    ),
    "webhook_outbox_due": (
        "SELECT id FROM webhook_outbox WHERE state = 'pending' AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at LIMIT ?",
        (1.0, 10),
    ),
    "webhook_outbox_finished": (
        "SELECT id FROM webhook_outbox WHERE state = 'delivered' AND finished_at < ?"
        " ORDER BY finished_at LIMIT ?",
        (1.0, 10),
    ),
    "idempotency_keys_expires_at": (
        "DELETE FROM idempotency_keys WHERE expires_at <= ?",
        (1.0,),
    ),
}
# queries served by an index claimed above: the same index, another query
ALSO: list[tuple[str, str, tuple]] = [
    ("messages_state_created", ops.COUNT_PENDING, ()),
    ("messages_state_created", ops.COUNT_BY_STATE, ()),
    ("messages_state_created", api._USAGE, (0.0, 1.0)),  # the store's own text
    (
        "messages_state_created",
        f"SELECT id FROM messages WHERE state IN ({FINISHED_MARKS}) AND created_at < ?"
        " ORDER BY created_at LIMIT ?",
        (*FINISHED, 1.0, 10),
    ),
]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path: Path = tmp_path_factory.mktemp("ix") / "g.db"
    open_store(str(path)).close()
    return sqlite3.connect(path)


def plan(db: sqlite3.Connection, sql: str, args: tuple) -> str:
    return " / ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql, args))


def test_every_index_is_claimed_by_a_query(db: sqlite3.Connection) -> None:
    indexes = {
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        )
    }
    assert indexes == set(QUERIES)


@pytest.mark.parametrize("index", sorted(QUERIES))
def test_the_query_uses_its_index(db: sqlite3.Connection, index: str) -> None:
    sql, args = QUERIES[index]
    assert f"INDEX {index}" in plan(db, sql, args), plan(db, sql, args)


@pytest.mark.parametrize(
    ("index", "sql", "args"), ALSO, ids=[f"{i}-{n}" for n, (i, _, _) in enumerate(ALSO)]
)
def test_other_queries_use_the_same_index(
    db: sqlite3.Connection, index: str, sql: str, args: tuple
) -> None:
    assert f"INDEX {index}" in plan(db, sql, args), plan(db, sql, args)

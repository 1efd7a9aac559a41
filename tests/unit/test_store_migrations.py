"""Migrations that rewrite data: an old store reaches the new spelling in place."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway.lifecycle import State
from gateway.store import open_store
from gateway.store.migrate import MIGRATIONS_DIR, apply_migrations, discover
from gateway.store.sql import history
from gateway.testing import legacy_store


def test_0005_lowers_segment_receipt_states(tmp_path: Path):
    old = tmp_path / "old"
    old.mkdir()
    for migration in discover():
        if migration.version < 5:
            shutil.copy(migration.path, old / migration.path.name)
    assert apply_migrations(sqlite3.connect(tmp_path / "g.db"), old) == [1, 2, 3, 4]
    db = sqlite3.connect(tmp_path / "g.db")
    db.execute(
        "INSERT INTO segments (message_id, seq, payload, receipt_state) VALUES"
        " ('m', 0, x'00', 'DELIVERED'), ('m', 1, x'00', 'UNDELIVERED'), ('m', 2, x'00', NULL)"
    )
    db.commit()
    assert 5 in apply_migrations(db, MIGRATIONS_DIR)
    states = [r[0] for r in db.execute("SELECT receipt_state FROM segments ORDER BY seq")]
    assert states == [State.DELIVERED.value, State.UNDELIVERED.value, None]


def check_compacted(cur: Any, count: int) -> None:
    """What 0009 must leave of `legacy_store.fill(count)`, on either backend."""
    cur.execute("SELECT id, created_at, history FROM messages ORDER BY id")
    rows = cur.fetchall()
    assert len(rows) == count
    for i, (mid, created_at, text) in enumerate(rows):
        assert mid == legacy_store.message_id(i)
        lines = history.parse(text, created_at)
        assert [state for _, state, _ in lines] == ["accepted", "submitting", "sent", "delivered"]
        assert [detail for _, _, detail in lines] == [None, "attempt 1", None, "receipt DELIVERED"]
        assert lines[3][0] == pytest.approx(created_at + 0.3, abs=1e-6)
    cur.execute("SELECT smsc_message_id FROM receipts ORDER BY smsc_message_id")
    assert [r[0] for r in cur.fetchall()] == [f"x{i}" for i in sorted(range(0, count, 10), key=str)]
    cur.execute("SELECT id FROM webhook_outbox ORDER BY id")
    assert [r[0] for r in cur.fetchall()] == [
        f"{legacy_store.message_id(i)}:sent" for i in range(0, count, 10)
    ]
    cur.execute("SELECT COUNT(*) FROM segments WHERE smsc_id_key IS NULL AND written_at IS NULL")
    assert cur.fetchone()[0] == count


def test_0009_compacts_a_store_of_delivered_messages_in_place(tmp_path: Path) -> None:
    old = legacy_store.migrations_up_to(legacy_store.LAST_BEFORE_COMPACT, tmp_path / "old")
    db = sqlite3.connect(tmp_path / "g.db")
    apply_migrations(db, old)
    legacy_store.fill(db.cursor(), 25)
    db.commit()
    assert 9 in apply_migrations(db, MIGRATIONS_DIR)
    check_compacted(db.cursor(), 25)
    assert not db.execute("SELECT name FROM sqlite_master WHERE name = 'message_events'").fetchall()
    db.close()
    store = open_store(str(tmp_path / "g.db"))  # and the store runs on it
    try:
        view = store.get_message(legacy_store.message_id(3))
        assert view is not None and view.state is State.DELIVERED and len(view.history) == 4
        assert store.unmatched_receipts() == 3 and store.outbox_depth() == 3
    finally:
        store.close()

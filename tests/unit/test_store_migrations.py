"""Migrations that rewrite data: an old store reaches the new spelling in place."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from gateway.lifecycle import State
from gateway.store.migrate import MIGRATIONS_DIR, apply_migrations, discover


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

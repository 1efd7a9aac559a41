"""0009_compact: fewer bytes per message at rest (issue 15), both backends.

- A message's history moves from `message_events` (a row per state change, each naming
  its message by id, indexed by it) to lines on the message (`messages.history`, the
  format of gateway/store/sql/history.py, written out here so this step never changes),
  and the table goes.
- A matched receipt's facts are on its segment (receipt_state, receipt_error,
  receipt_at): only unmatched receipts stay in `receipts`, and its message_id index goes.
- Delivered webhooks are not kept (gateway/store/sql/outbox.py `delivered`).
- The (state, lease_until) and (created_at) indexes over every message go: the claim,
  retention and usage by country find their rows through (state, created_at).
- `state_changed_at` and `done_at` go: written, never read; the history has the times.
- A segment's receipt key (`smsc_id_key`) is kept only where it differs from the id the
  SMSC gave (most ids are their own key), and indexed as COALESCE(key, id); its
  `written_at` only until it is answered with success (it tells a possible duplicate).
- `receiver_as_given` is kept only where it differs from the normalised receiver.
- Inbound messages get an index by arrival: retention now deletes them too (they were
  kept for ever), as it does receipts that never matched a message.
- Texts of messages already final stay until retention removes them: the migration
  cannot know the operator's store.keep_text.
- SQLite: `segments` becomes WITHOUT ROWID. With a rowid, its primary key
  (message_id, seq) was kept twice: in the table and in an automatic index.

Python, not SQL: the history lines are built here, the same way on both backends (SQLite
and PostgreSQL spell ordered string aggregation differently).
"""

from __future__ import annotations

from typing import Any

BATCH = 5_000  # messages per UPDATE batch

SEGMENTS_WITHOUT_ROWID = """
CREATE TABLE segments_compact (
    message_id      TEXT NOT NULL REFERENCES messages (id),
    seq             INTEGER NOT NULL,
    payload         BLOB NOT NULL,
    smsc_message_id TEXT NULL,
    command_status  INTEGER NULL,
    submitted_at    REAL NULL,
    smsc_id_key     TEXT NULL,
    receipt_state   TEXT NULL,
    receipt_error   INTEGER NULL,
    receipt_at      REAL NULL,
    written_at      REAL NULL,
    PRIMARY KEY (message_id, seq)
) WITHOUT ROWID;
INSERT INTO segments_compact SELECT message_id, seq, payload, smsc_message_id, command_status,
    submitted_at, smsc_id_key, receipt_state, receipt_error, receipt_at, written_at
    FROM segments;
DROP TABLE segments;
ALTER TABLE segments_compact RENAME TO segments;
CREATE INDEX segments_key ON segments (COALESCE(smsc_id_key, smsc_message_id))
"""


def run(cur: Any, dialect: str) -> None:
    """Applied by gateway/store/migrate.py inside the migration's transaction."""
    mark = "?" if dialect == "sqlite" else "%s"
    cur.execute("ALTER TABLE messages ADD COLUMN history TEXT NOT NULL DEFAULT ''")
    _move_history(cur, mark)
    cur.execute("DROP TABLE message_events")
    cur.execute("DELETE FROM receipts WHERE message_id IS NOT NULL")
    cur.execute("DROP INDEX receipts_message_id")
    cur.execute("DELETE FROM webhook_outbox WHERE state = 'delivered'")
    cur.execute("DROP INDEX messages_state_lease")
    cur.execute("DROP INDEX messages_created_at")
    cur.execute("ALTER TABLE messages DROP COLUMN state_changed_at")
    cur.execute("ALTER TABLE messages DROP COLUMN done_at")
    cur.execute("UPDATE segments SET smsc_id_key = NULL WHERE smsc_id_key = smsc_message_id")
    cur.execute(
        "UPDATE segments SET smsc_id_key = '' WHERE smsc_message_id IS NOT NULL"
        " AND smsc_id_key IS NULL AND command_status != 0"
    )
    cur.execute("UPDATE segments SET written_at = NULL WHERE command_status = 0")
    cur.execute("UPDATE messages SET receiver_as_given = '' WHERE receiver_as_given = receiver")
    cur.execute("CREATE INDEX inbound_messages_received ON inbound_messages (received_at)")
    if dialect == "sqlite":
        for statement in SEGMENTS_WITHOUT_ROWID.split(";"):
            cur.execute(statement)
    else:
        cur.execute("DROP INDEX segments_smsc_id_key")
        cur.execute(
            "CREATE INDEX segments_key ON segments (COALESCE(smsc_id_key, smsc_message_id))"
        )


def _move_history(cur: Any, mark: str) -> None:
    """Every message's events, oldest first, as history lines on the message."""
    cur.execute(
        "SELECT e.message_id, m.created_at, e.at, e.state, e.detail FROM message_events e"
        " JOIN messages m ON m.id = e.message_id ORDER BY e.message_id, e.id"
    )
    rows = cur.fetchall()
    updates: list[tuple[str, str]] = []
    current: str | None = None
    lines: list[str] = []
    for message_id, created_at, at, state, detail in [*rows, (None, 0.0, 0.0, "", None)]:
        if message_id != current:
            if current is not None:
                updates.append(("".join(lines), current))
            current, lines = message_id, []
        if message_id is not None:
            lines.append(_line(at, created_at, state, detail))
    for start in range(0, len(updates), BATCH):
        batch = updates[start : start + BATCH]
        cur.executemany(f"UPDATE messages SET history = {mark} WHERE id = {mark}", batch)


def _line(at: float, created_at: float, state: str, detail: str | None) -> str:
    offset = round((at - created_at) * 1_000_000)
    if detail is None:
        return f"\n{offset}:{state}"
    return f"\n{offset}:{state}:{detail.replace(chr(10), ' ')}"

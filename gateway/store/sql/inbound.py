"""SQL of inbound (MO) messages: parts kept until the last one arrives, then one message.

Runs inside the writer's transaction, like states.py: the message and its webhook commit
together, before the SMSC gets its deliver_sm_resp.
"""

from __future__ import annotations

from gateway import opt_out
from gateway.model import InboundMessage, InboundPart
from gateway.sms.decoding import join_surrogates
from gateway.store.base import Journal
from gateway.store.sql import Connection, api, outbox


def record_inbound(conn: Connection, journal: Journal, part: InboundPart) -> None:
    """Keep a part; when its message is complete, assemble it and queue the webhook."""
    if part.reference is None or part.total <= 1:
        message = InboundMessage(
            journal.new_id(),
            part.received_at,
            part.sender,
            part.receiver,
            part.coding,
            part.text,
            1,
            True,
        )
        _deliver_inbound(conn, journal, message)
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
        _assemble(conn, journal, group, complete=True)


def expire_inbound(conn: Connection, journal: Journal, before: float) -> int:
    """Deliver what arrived of messages whose first part is older than `before`."""
    groups = [
        r[0]
        for r in conn.execute(
            "SELECT group_key FROM inbound_parts GROUP BY group_key HAVING MIN(received_at) < ?",
            (before,),
        )
    ]
    for group in groups:
        _assemble(conn, journal, group, complete=False)
    return len(groups)


def _assemble(conn: Connection, journal: Journal, group: str, complete: bool) -> None:
    parts = conn.execute(
        "SELECT received_at, sender, receiver, coding, text, total FROM inbound_parts"
        " WHERE group_key = ? ORDER BY number",
        (group,),
    ).fetchall()
    text = "".join(p[4] for p in parts)
    first = parts[0]
    message = InboundMessage(
        journal.new_id(),
        first[0],
        first[1],
        first[2],
        first[3],
        join_surrogates(text),
        first[5],
        complete,
    )
    conn.execute("DELETE FROM inbound_parts WHERE group_key = ?", (group,))
    _deliver_inbound(conn, journal, message)


def _deliver_inbound(conn: Connection, journal: Journal, m: InboundMessage) -> None:
    conn.execute(
        "INSERT INTO inbound_messages (id, received_at, sender, receiver, coding, text, parts,"
        " complete) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (m.id, m.received_at, m.sender, m.receiver, m.coding, m.text, m.parts, int(m.complete)),
    )
    row = journal.inbound(m)
    if row is not None:
        outbox.insert(conn, row, m.received_at)
    if journal.stops(m):  # a stop word: the handset leaves the list of the number it wrote to
        api.add_opt_out(
            conn,
            sender=opt_out.address(m.receiver),
            receiver=opt_out.address(m.sender),
            at=m.received_at,
            reason=f"inbound {m.text.strip()!r} ({m.id})",
        )

"""Advisory locks that let several daemons' writers share one database without deadlock.

Why: on SQLite the write transactions of every process are serial (one file lock). On
PostgreSQL each process of each daemon has its own writers, and two of them can touch
one message at once: daemon A records the submit_sm_resp (or marks it sent) while daemon
B applies its receipt. Under READ COMMITTED each would miss the other's uncommitted row (a
receipt left unmatched) or overwrite the other's state (a lost update). So an operation
names what it touches: SMSC id keys, message ids, or a named area ("inbound"); the
writer's prelude takes all of a batch's locks before any operation runs, in two phases,
each in one sorted order:

1. key and area locks (`k:<key>`, `inbound`, `i:<idempotency key>`);
2. message locks (`m:<id>`): those declared, plus the messages whose segments carry a
   receipt's keys, looked up only after phase 1, so a submit_sm_resp committed by
   another daemon meanwhile is seen.

A transaction never waits for a lock of an earlier phase while holding a later one,
and rows of a message are touched only under its lock, so no wait cycle can form.
Locks are transaction-scoped (pg_advisory_xact_lock): the commit releases them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

_TAKE = "SELECT pg_advisory_xact_lock(x) FROM unnest(%s::bigint[]) AS x"
# the segment key as migration 0009 indexes it (sql/states.py SEGMENT_KEY)
_KEY = "COALESCE(s.smsc_id_key, s.smsc_message_id)"
_MESSAGES_OF_KEYS = (
    f"SELECT {_KEY}, s.message_id, m.claimed_by FROM segments s"
    f" JOIN messages m ON m.id = s.message_id WHERE {_KEY} = ANY(%s)"
)


@dataclass(frozen=True)
class Locked:
    """An operation plus the locks it needs; calling it runs the operation."""

    fn: Callable[[Any], Any]
    areas: tuple[str, ...] = ()  # phase 1: "k:<smsc key>", "inbound", "i:<...>"
    messages: tuple[str, ...] = ()  # phase 2: message ids
    receipt_keys: tuple[str, ...] = ()  # phase 2: messages whose segments have these keys

    def __call__(self, conn: Any) -> Any:
        return self.fn(conn)


def lock_number(name: str) -> int:
    """A stable signed 64-bit number for a lock name (a collision only serialises more)."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def take(conn: Any, names: Iterable[str]) -> None:
    """Take the locks in ascending number order (one round trip)."""
    numbers = sorted({lock_number(n) for n in names})
    if numbers:
        conn.execute_native(_TAKE, (numbers,)).fetchall()


def prelude(conn: Any, ops: list[Callable[[Any], Any]]) -> None:
    """The writer's prelude: every lock the batch declares, phase by phase (after
    replacing a connection the server dropped)."""
    conn.ensure_open()
    declared = [op for op in ops if isinstance(op, Locked)]
    if not declared:
        return
    take(conn, (a for op in declared for a in op.areas))
    messages = {m for op in declared for m in op.messages}
    keys = sorted({k for op in declared for k in op.receipt_keys})
    conn.key_owners = {}
    if keys:
        rows = conn.execute_native(_MESSAGES_OF_KEYS, (keys,)).fetchall()
        messages.update(r[1] for r in rows)
        conn.key_owners = {r[0]: r[2] for r in rows}  # who claimed it: cross-daemon metric
    take(conn, (f"m:{m}" for m in messages))

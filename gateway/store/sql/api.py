"""The SQL of the API extras (idempotency, conversions, rate buckets, usage), both backends.

Functions of a connection, like messages.py: write operations run inside the
writer's transaction and never commit themselves; reads run in a reader's snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.lifecycle import State
from gateway.model_api import Conversion, IdempotencyRecord, ReceiverUsage
from gateway.store.sql import Connection
from gateway.store.sql import messages as ops

_RECORD_COLUMNS = "api_key_id, idem_key, request_hash, status, response, created_at, expires_at"
_SELECT_RECORD = (
    f"SELECT {_RECORD_COLUMNS} FROM idempotency_keys"
    " WHERE api_key_id = ? AND idem_key = ? AND expires_at > ?"
)
_INSERT_RECORD = f"INSERT INTO idempotency_keys ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
# "Sent" for usage: at least one segment the SMSC took (submit_sm_resp status 0).
# Every state spelled out: the (state, created_at) index then serves the time range
# (there is no index on created_at alone; migration 0009).
_EVERY_STATE = ", ".join(f"'{s.value}'" for s in State)
_USAGE_OF = (
    "SELECT m.receiver, COUNT(*), SUM(m.cost) FROM messages m"
    f" WHERE m.state IN ({_EVERY_STATE}) AND m.created_at >= ? AND m.created_at < ?"
    " AND EXISTS (SELECT 1 FROM segments s WHERE s.message_id = m.id AND s.command_status = 0)"
    "{client} GROUP BY m.receiver"
)
_USAGE = _USAGE_OF.format(client="")  # every client's messages
_USAGE_OF_CLIENT = _USAGE_OF.format(client=" AND m.client = ?")


def live_record(
    conn: Connection, *, api_key_id: str, key: str, now: float
) -> IdempotencyRecord | None:
    """The unexpired record for (api key, Idempotency-Key), or None."""
    row = conn.execute(_SELECT_RECORD, (api_key_id, key, now)).fetchone()
    return IdempotencyRecord(*row) if row is not None else None


def insert_idempotent(
    rows: ops.AcceptRows, record: IdempotencyRecord, conn: Connection
) -> IdempotencyRecord | None:
    """Messages plus their idempotency record in the writer's transaction.

    When a live record for the key exists (a concurrent or earlier request won), nothing
    is written and that record is returned: the check and the insert are one write
    transaction, serial with every other on SQLite (BEGIN IMMEDIATE under the file lock)
    and under the key's advisory lock on PostgreSQL (postgres/locks.py), so two requests
    with one key, on any workers, cannot both send.
    Expired records go first, so an old key can be used again and the table stays small.
    """
    conn.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?", (record.created_at,))
    existing = live_record(
        conn, api_key_id=record.api_key_id, key=record.key, now=record.created_at
    )
    if existing is not None:
        return existing
    conn.execute(
        _INSERT_RECORD,
        (
            record.api_key_id,
            record.key,
            record.request_hash,
            record.status,
            record.response,
            record.created_at,
            record.expires_at,
        ),
    )
    ops.insert(rows, conn)
    return None


def convert(conn: Connection, *, message_id: str, api_key_id: str, at: float) -> Conversion:
    """Record a conversion of a message sent with this API key (only its own: another
    key's message ids are not convertible, nor revealed to exist)."""
    row = conn.execute("SELECT api_key_id FROM messages WHERE id = ?", (message_id,)).fetchone()
    if row is None or row[0] != api_key_id:
        return Conversion.UNKNOWN
    cur = conn.execute(
        "INSERT INTO conversions (message_id, api_key_id, converted_at) VALUES (?, ?, ?)"
        " ON CONFLICT (message_id) DO NOTHING",
        (message_id, api_key_id, at),
    )
    return Conversion.CONVERTED if cur.rowcount else Conversion.REPEATED


def usage(
    conn: Connection, *, start: float, end: float, client: str | None = None
) -> list[ReceiverUsage]:
    """Messages created in [start, end) that the SMSC took, per receiver (of one client)."""
    if client is None:
        return [ReceiverUsage(*row) for row in conn.execute(_USAGE, (start, end))]
    return [ReceiverUsage(*row) for row in conn.execute(_USAGE_OF_CLIENT, (start, end, client))]


def spend_quota(
    conn: Connection, *, client: str, limits: Sequence[tuple[str, int]], parts: int
) -> str | None:
    """Count `parts` against every (period, limit) of `client`, or none of them: the first
    period whose limit they would pass (nothing counted), else None (all counted)."""
    for period, limit in limits:
        row = conn.execute(
            "SELECT parts FROM client_quota WHERE client = ? AND period = ?", (client, period)
        ).fetchone()
        if (row[0] if row else 0) + parts > limit:
            return period
    conn.executemany(
        "INSERT INTO client_quota (client, period, parts) VALUES (?, ?, ?) ON CONFLICT"
        " (client, period) DO UPDATE SET parts = client_quota.parts + excluded.parts",
        [(client, period, parts) for period, _ in limits],
    )
    return None


def client_counts(conn: Connection, *, since: float) -> dict[str, int]:
    """Messages accepted since `since`, per client (every state spelled: the index serves)."""
    sql = (
        f"SELECT client, COUNT(*) FROM messages WHERE state IN ({_EVERY_STATE})"
        " AND created_at >= ? GROUP BY client"
    )
    return {client: count for client, count in conn.execute(sql, (since,))}


def quota_used(conn: Connection, *, periods: Sequence[str]) -> dict[tuple[str, str], int]:
    """(client, period) -> parts counted, for these periods."""
    if not periods:
        return {}
    marks = ", ".join("?" * len(periods))
    rows = conn.execute(
        f"SELECT client, period, parts FROM client_quota WHERE period IN ({marks})", tuple(periods)
    )
    return {(client, period): parts for client, period, parts in rows}


def opted_out(conn: Connection, *, sender: str, receivers: Sequence[str]) -> set[str]:
    """Which of `receivers` are on `sender`'s opt-out list."""
    found: set[str] = set()
    for start in range(0, len(receivers), 500):
        chunk = list(receivers[start : start + 500])
        marks = ", ".join("?" * len(chunk))
        found.update(
            r[0]
            for r in conn.execute(
                f"SELECT receiver FROM opt_outs WHERE sender = ? AND receiver IN ({marks})",
                (sender, *chunk),
            )
        )
    return found


def add_opt_out(conn: Connection, *, sender: str, receiver: str, at: float, reason: str) -> None:
    conn.execute(
        "INSERT INTO opt_outs (sender, receiver, at, reason) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (sender, receiver) DO UPDATE SET at = excluded.at, reason = excluded.reason",
        (sender, receiver, at, reason),
    )


def remove_opt_out(conn: Connection, *, sender: str, receiver: str) -> bool:
    cur = conn.execute("DELETE FROM opt_outs WHERE sender = ? AND receiver = ?", (sender, receiver))
    return bool(cur.rowcount)


def list_opt_outs(conn: Connection, *, limit: int) -> list[tuple[str, str, float, str]]:
    rows = conn.execute(
        "SELECT sender, receiver, at, reason FROM opt_outs ORDER BY at DESC LIMIT ?", (limit,)
    )
    return [tuple(r) for r in rows]


def take_token(conn: Connection, *, bucket: str, rate: float, burst: float, now: float) -> float:
    """Take one token from `bucket`: 0.0 when taken, else the seconds until one will be
    there (see take_tokens)."""
    return take_tokens(conn, bucket=bucket, rate=rate, burst=burst, count=1, now=now)[1]


def take_tokens(
    conn: Connection,
    *,
    bucket: str,
    rate: float,
    burst: float,
    count: int,
    now: float,
    whole: bool = False,
) -> tuple[int, float]:
    """Take up to `count` whole tokens from `bucket` (refilled at `rate` per second, at
    most `burst` kept): (tokens taken, 0.0), or (0, the seconds until one will be
    there); with `whole`, all `count` or none (then the seconds until `count` will be
    there). Runs in the writer's transaction, so concurrent takers are serialised
    (PostgreSQL: under the bucket's advisory lock)."""
    row = conn.execute("SELECT tokens, at FROM rate_buckets WHERE bucket = ?", (bucket,)).fetchone()
    tokens = burst if row is None else min(burst, row[0] + max(0.0, now - row[1]) * rate)
    taken = max(0, min(count, int(tokens)))
    if whole and taken < count:
        taken = 0
    # `now` was read when the call was queued: a taker queued earlier may commit after a
    # later one. The bucket's time never goes back, or that span would refill twice.
    at = now if row is None else max(now, row[1])
    conn.execute(
        "INSERT INTO rate_buckets (bucket, tokens, at) VALUES (?, ?, ?)"
        " ON CONFLICT (bucket) DO UPDATE SET tokens = excluded.tokens, at = excluded.at",
        (bucket, tokens - taken, at),
    )
    return taken, 0.0 if taken else ((count if whole else 1) - tokens) / rate

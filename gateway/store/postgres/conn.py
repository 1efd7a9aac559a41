"""A psycopg connection that speaks the sqlite3 DB-API dialect of store/sql/.

Why: the shared SQL (store/sql/) is portable apart from the placeholder, so PostgreSQL
reuses it instead of keeping a second copy that could drift. This adapter gives those
functions what they call on an sqlite3.Connection: `execute` and `executemany` with `?`
placeholders (rewritten to psycopg's `%s`), plus commit/rollback/close for the writer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any, cast

import psycopg

# SQLSTATE classes that say the server or the connection failed, not the statement:
# connection exception, insufficient resources (disk full, out of memory), object not in
# prerequisite state (lock not available), operator intervention (shutdown, cancel),
# system error (I/O), internal error. Not class 40 (deadlock, serialization failure):
# the batch's operations are then tried one by one, which is the cure.
_STORE_FAILURE_CLASSES = frozenset({"08", "53", "55", "57", "58", "XX"})
_READ_ONLY_TRANSACTION = "25006"  # a standby after a failover


def is_store_failure(exc: BaseException) -> bool:
    """True when `exc` means the database cannot take writes now (retried later);
    False for a statement's own error (a constraint, bad data)."""
    if isinstance(exc, OSError | MemoryError | psycopg.InterfaceError):
        return True
    if not isinstance(exc, psycopg.Error):
        return False
    state = exc.sqlstate
    if state is None:  # no answer from the server: the connection failed
        return isinstance(exc, psycopg.OperationalError)
    return state[:2] in _STORE_FAILURE_CLASSES or state == _READ_ONLY_TRANSACTION


@lru_cache(maxsize=512)
def qmark_to_format(sql: str) -> str:
    """`?` → `%s`; a literal `%` is doubled. The shared SQL has no `?` inside strings."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """Wraps one psycopg connection (not thread-safe: one owner, like the writer's).

    With `connect`, a connection the server dropped (restart, failover, idle timeout)
    is replaced by `ensure_open()`, which the writer's prelude calls before each batch:
    the batch that met the broken connection fails, the next one runs on a new one.
    """

    dialect = "postgresql"

    def __init__(self, raw: Any, connect: Callable[[], Any] | None = None) -> None:
        self.raw = raw
        self._connect = connect
        self._notify: set[str] = set()
        # smsc id key -> owner id of the daemon that claimed its message, as the batch's
        # prelude found them (locks.prelude)
        self.key_owners: dict[str, str | None] = {}

    def ensure_open(self) -> None:
        if self._connect is not None and (self.raw.closed or self.raw.broken):
            with contextlib.suppress(Exception):
                self.raw.close()
            self.raw = self._connect()

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        cur = self.raw.cursor()
        cur.execute(qmark_to_format(sql), params if params is not None else None)
        return cur

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> Any:
        rows = list(rows)
        cur = self.raw.cursor()
        if rows:
            cur.executemany(qmark_to_format(sql), rows)
        return cur

    def execute_native(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """PostgreSQL-only SQL, written with `%s` (ops.py)."""
        cur = self.raw.cursor()
        cur.execute(sql, params)
        return cur

    def cursor(self) -> Any:
        return self.raw.cursor()

    def pipeline(self) -> contextlib.AbstractContextManager[Any]:
        """Queue statements until the block ends (store/sql `together`)."""
        return cast(contextlib.AbstractContextManager[Any], self.raw.pipeline())

    def notify_at_commit(self, channel: str) -> None:
        """NOTIFY `channel` once when this transaction commits, however many ask."""
        self._notify.add(channel)

    def commit(self) -> None:
        for channel in sorted(self._notify):
            self.raw.execute(f"NOTIFY {channel}")
        self._notify.clear()
        self.raw.commit()

    def rollback(self) -> None:
        self._notify.clear()
        self.raw.rollback()

    def close(self) -> None:
        self.raw.close()

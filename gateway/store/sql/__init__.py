"""SQL both backends run: PostgreSQL runs these statements through a thin translation
layer (postgres/conn.py), so each query exists once."""

import contextlib
from typing import Any

#: What every function here is given: an sqlite3.Connection, or postgres.conn.PgConnection,
#: which has the same DB-API surface (execute/executemany with `?` placeholders).
Connection = Any


def together(conn: Connection) -> contextlib.AbstractContextManager[Any]:
    """Statements inside need no answer until the block ends: PostgreSQL sends them in one
    go (psycopg's pipeline mode: one round trip instead of one each, and an error still
    surfaces before the block is left); SQLite runs them in process, one by one."""
    pipeline = getattr(conn, "pipeline", None)
    return pipeline() if pipeline is not None else contextlib.nullcontext()

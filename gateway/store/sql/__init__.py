"""SQL both backends run: PostgreSQL runs these statements through a thin translation
layer (postgres/conn.py), so each query exists once."""

from typing import Any

#: What every function here is given: an sqlite3.Connection, or postgres.conn.PgConnection,
#: which has the same DB-API surface (execute/executemany with `?` placeholders).
Connection = Any

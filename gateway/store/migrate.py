"""A tiny migration runner: numbered .sql files, applied in order, each in a transaction.

Why not a framework: the schema is small and both backends run plain SQL. Each file
`NNNN_name.sql` (or `NNNN_name.py`, for a step that moves data in a way the two SQL
dialects spell differently: its `run(cursor, dialect_name)` does the work) runs inside
one transaction together with its row in `schema_version`,
so a failed migration leaves neither half a schema nor a record of it (SQLite and
PostgreSQL both have transactional DDL). The version is re-checked inside the transaction,
so two processes starting on the same database cannot apply one file twice.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store.base import StoreError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([A-Za-z0-9_]+)\.(sql|py)$")


class MigrationError(StoreError):
    """A migration file is malformed or failed; nothing of it was applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def _identity(sql: str) -> str:
    return sql


def split_sqlite(script: str) -> list[str]:
    """Statements of a script, split where SQLite says a statement is complete (so a ';'
    inside a string or trigger body does not split). executescript() cannot be used: it
    commits first, which would break the one-transaction-per-migration rule."""
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    rest = [ln for ln in buf.splitlines() if ln.strip() and not ln.strip().startswith("--")]
    if rest:
        raise MigrationError(f"incomplete SQL statement at the end: {rest[0]!r}")
    return statements


def postgres_types(sql: str) -> str:
    """Rewrite the portable SQLite spelling for PostgreSQL: BLOB is BYTEA, REAL must be
    DOUBLE PRECISION (PostgreSQL's REAL is 4 bytes: epoch seconds would lose minutes),
    and an autoincrement key is an identity column."""
    sql = re.sub(
        r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b",
        "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        sql,
        flags=re.IGNORECASE,
    )
    sql = re.sub(r"\bBLOB\b", "BYTEA", sql, flags=re.IGNORECASE)
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", sql, flags=re.IGNORECASE)


@dataclass(frozen=True)
class Dialect:
    """What differs between backends for running migrations."""

    name: str
    begin: str | None  # opens the transaction; None where the driver opens it implicitly
    placeholder: str  # DB-API paramstyle marker
    translate: Callable[[str], str] = _identity
    split: Callable[[str], list[str]] = lambda script: [script]


SQLITE = Dialect("sqlite", "BEGIN IMMEDIATE", "?", _identity, split_sqlite)
POSTGRES = Dialect("postgresql", None, "%s", postgres_types)  # psycopg runs multi-statement


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files in version order; rejects duplicate numbers."""
    found: dict[int, Migration] = {}
    for path in sorted([*directory.glob("*.sql"), *directory.glob("*.py")]):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name not NNNN_name.sql or .py: {path.name}")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version}: {path.name}")
        found[version] = Migration(version, match.group(2), path)
    return [found[v] for v in sorted(found)]


def _python_step(path: Path) -> Any:
    """The module of a .py migration (loaded from its file: migrations are not a package)."""
    spec = importlib.util.spec_from_file_location(f"gateway_migration_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise MigrationError(f"cannot load {path.name}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def applied_versions(conn: Any) -> list[int]:
    """Versions recorded in schema_version, ascending."""
    cur = conn.cursor()
    cur.execute("SELECT version FROM schema_version ORDER BY version")
    return [row[0] for row in cur.fetchall()]


def apply_migrations(
    conn: Any,
    directory: Path = MIGRATIONS_DIR,
    *,
    dialect: Dialect = SQLITE,
    clock: Callable[[], float] = time.time,
) -> list[int]:
    """Apply every migration not yet recorded; returns the versions applied now."""
    cur = conn.cursor()
    cur.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at "
        f"{dialect.translate('REAL')} NOT NULL)"
    )
    conn.commit()
    return [m.version for m in discover(directory) if _apply_one(conn, m, dialect, clock)]


def _apply_one(
    conn: Any, migration: Migration, dialect: Dialect, clock: Callable[[], float]
) -> bool:
    cur = conn.cursor()
    p = dialect.placeholder
    if dialect.begin:
        cur.execute(dialect.begin)
    try:
        cur.execute(f"SELECT 1 FROM schema_version WHERE version = {p}", (migration.version,))
        if cur.fetchone() is not None:
            conn.rollback()
            return False
        if migration.path.suffix == ".py":
            _python_step(migration.path).run(cur, dialect.name)
        else:
            script = dialect.translate(migration.path.read_text(encoding="utf-8"))
            for statement in dialect.split(script):
                cur.execute(statement)
        cur.execute(
            f"INSERT INTO schema_version (version, name, applied_at) VALUES ({p}, {p}, {p})",
            (migration.version, migration.name, clock()),
        )
        conn.commit()
    except Exception as exc:
        conn.rollback()
        raise MigrationError(
            f"migration {migration.version:04d}_{migration.name} failed: {exc}"
        ) from exc
    return True

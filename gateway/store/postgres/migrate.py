"""Migrations on PostgreSQL, under an advisory lock so daemons starting together queue.

Why a lock on top of migrate.py's per-file re-check: `CREATE TABLE IF NOT EXISTS
schema_version` and the first migration can still race between two fresh daemons (one
would fail on "relation already exists"). A session-level advisory lock held for the
whole run makes the second daemon wait, then find nothing left to apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg

from gateway.store.base import StoreError
from gateway.store.migrate import POSTGRES, apply_migrations, discover
from gateway.store.postgres.locks import lock_number

MIGRATION_LOCK = lock_number("smpp-gateway migrations")


def migrate(url: str, clock: Callable[[], float] = time.time) -> list[int]:
    """Apply what is missing; returns the versions applied now."""
    try:
        with psycopg.connect(url) as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            conn.commit()
            try:
                return apply_migrations(conn, dialect=POSTGRES, clock=clock)
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
                conn.commit()
    except psycopg.Error as exc:
        raise StoreError(f"cannot migrate the PostgreSQL store: {exc}") from exc


def missing(url: str) -> list[int]:
    """Versions not applied yet (all of them on an empty database)."""
    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT to_regclass('schema_version')").fetchone()
            exists = row[0] if row is not None else None
            done = set()
            if exists is not None:
                done = {r[0] for r in conn.execute("SELECT version FROM schema_version")}
    except psycopg.Error as exc:
        raise StoreError(f"cannot reach the PostgreSQL store: {exc}") from exc
    return [m.version for m in discover() if m.version not in done]

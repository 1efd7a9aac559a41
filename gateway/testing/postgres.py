"""A fresh PostgreSQL database per test, on the server at 127.0.0.1:5432 (or $SMPP_GATEWAY_TEST_PG).

Why a database per test rather than a schema: the gateway's connection string names a
database, and migrations must start from nothing. CREATE DATABASE copies template1 in a
few tens of milliseconds; DROP ... WITH (FORCE) ends leftover connections (a killed
daemon's). When no server answers, tests that need one skip with one line saying why;
with CI=true they fail instead, so CI can never go green by skipping.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ADMIN_URL = os.environ.get("SMPP_GATEWAY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@functools.cache
def unreachable_reason() -> str | None:
    """None when the server answers, else why not (checked once per test process)."""
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # ImportError, OperationalError: any reason means "no server"
        first = (str(exc).strip().splitlines() or [""])[0]
        return f"PostgreSQL not reachable at {ADMIN_URL} ({type(exc).__name__}: {first})"
    return None


def require_postgres() -> None:
    reason = unreachable_reason()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def fresh_database(label: str = "t") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it (and its connections) after."""
    import psycopg

    require_postgres()
    name = f"gw_{label}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_url(name)
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""Bytes at rest per message (issue 15): what a delivered message costs the disk.

`disk` sends `disk_count` single-part messages through a daemon with receipts and one
DELIVERED callback each, waits until every callback is delivered and marked so, stops
the daemon and measures the store: SQLite, the file (and any WAL) less an empty store's;
PostgreSQL, every table with its indexes and TOAST after VACUUM FULL (the live rows, as
a steady state with autovacuum reuses the rest), less an empty database's. Both divided
by the count. Per table (and index) figures are in the JSON, not the table.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from bench.common import Figures, Unavailable
from bench.phase import run_phase
from bench.scenarios_send import CLIENTS, _single_spec
from bench.sizes import Sizes
from bench.stack import SmscTarget, Stack, metric, running_stack
from gateway.store import open_store
from gateway.testing.waiting import wait_for


def disk(target: SmscTarget, sizes: Sizes, _ctx: dict[str, Any]) -> Figures:
    """Both backends; PostgreSQL only where a server is reachable."""
    if not target.bundled:
        raise Unavailable("needs the bundled simulator (receipts for every message)")
    figures = _sqlite(target, sizes)
    figures |= _postgres(target, sizes)
    return figures


def _send_all(stack: Stack, sizes: Sizes) -> None:
    """Every message sent, its callback delivered and the delivery recorded."""
    run_phase(stack, _single_spec(stack, sizes, sizes.disk_count, CLIENTS, 0), sizes)
    wait_for(
        lambda: metric(stack.gateway, "smpp_gateway_webhook_outbox_depth") == 0,
        timeout=60,
        what="the outbox drained",
    )


def _sqlite(target: SmscTarget, sizes: Sizes) -> Figures:
    with running_stack(target) as stack:
        path = stack.gateway.db_path
        _send_all(stack, sizes)
        stack.gateway.stop()
        used = _file_bytes(path)
        tables = _sqlite_tables(path)
    empty_path = path.with_name("empty.db")
    open_store(f"sqlite:///{empty_path}").close()
    empty = _file_bytes(empty_path)
    n = sizes.disk_count
    figures = {"sqlite_bytes_per_msg": (used - empty) / n}
    figures |= {f"sqlite_{name}_bytes_per_msg": size / n for name, size in tables.items()}
    return figures


def _file_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def _sqlite_tables(path: Path) -> dict[str, int]:
    """Bytes of pages per table and index (SQLite's dbstat)."""
    wal = Path(f"{path}-wal")
    sizes = {"(wal file)": wal.stat().st_size if wal.exists() else 0}
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        sizes["(free pages)"] = conn.execute("PRAGMA freelist_count").fetchone()[0] * page
    return sizes | {name: int(size) for name, size in rows}


def _postgres(target: SmscTarget, sizes: Sizes) -> Figures:
    from gateway.testing import postgres as pg  # imports pytest: only when asked for

    if pg.unreachable_reason() is not None:
        return {}
    import psycopg

    with pg.fresh_database("disk0") as empty_url:
        open_store(empty_url).close()
        empty = sum(_pg_tables(psycopg, empty_url).values())
    with pg.fresh_database("disk") as url:
        with running_stack(target, store={"url": url}) as stack:
            _send_all(stack, sizes)
            stack.gateway.stop()
        tables = _pg_tables(psycopg, url)
    n = sizes.disk_count
    figures = {"postgres_bytes_per_msg": (sum(tables.values()) - empty) / n}
    figures |= {f"postgres_{name}_bytes_per_msg": size / n for name, size in tables.items()}
    return figures


def _pg_tables(psycopg: Any, url: str) -> dict[str, int]:
    """Bytes per table with its indexes and TOAST, after VACUUM FULL."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM FULL")
        rows = conn.execute(
            "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables"
        ).fetchall()
    return {name: int(size) for name, size in rows}

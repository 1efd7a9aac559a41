"""`smpp-gateway webhooks list-dead` and `replay`, run as real processes on each store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.model import OutboxRow
from gateway.store import open_store
from gateway.store import sqlite_receipts as rx
from tests.gatewayctl import write_config
from tests.pgdb import fresh_database

pytestmark = pytest.mark.integration


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SMPP_GATEWAY_HTTP_API_KEYS": "test-key-0123456789"}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "webhooks", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=config.parent,
        check=False,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def store_where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict]]:
    """(where to open the store, the [store] config naming it) on each backend."""
    if request.param == "sqlite":
        (tmp_path / "var").mkdir()
        yield str(tmp_path / "var" / "gateway.db"), {"path": "var/gateway.db"}
        return
    with fresh_database("cli") as url:
        yield url, {"url": url}


def _write(store: Any, op: Any) -> None:
    writer = store._writers.any() if hasattr(store, "_writers") else store._writer
    writer.call(op, label="test", timeout=5)


@pytest.fixture
def dead_store(tmp_path: Path, store_where: tuple[str, dict]) -> tuple[Path, list[str]]:
    """A store with three dead letters and one pending webhook; the config naming it."""
    where, store_config = store_where
    store = open_store(where)
    now = time.time()
    ids = []
    for n in range(4):
        row = OutboxRow(
            id=f"wh-{n}",
            kind="callback",
            message_id=f"m{n}",
            created_at=now - 60,
            url=f"http://127.0.0.1:9/cb/{n}?msgid=m{n}&secret-ish=yes",
            method="GET",
            content_type=None,
            body=None,
        )
        _write(store, lambda conn, row=row: rx.insert_outbox(conn, row, now))
        ids.append(row.id)
    for n in range(3):
        store.outbox_dead(ids[n], f"HTTP 404 Not Found: no such hook {n}", now)
    store.flush(5)
    store.close()
    config = write_config(tmp_path / "gateway.toml", {"store": store_config})
    return config, ids[:3]


def test_list_dead_prints_a_table_without_query_strings(dead_store: tuple[Path, list[str]]) -> None:
    config, ids = dead_store
    done = cli(config, "list-dead")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "KIND", "METHOD"]
    for n, wid in enumerate(ids):
        (line,) = [x for x in lines if x.startswith(wid)]
        assert "callback" in line and f"/cb/{n}" in line and f"no such hook {n}" in line
    assert "wh-3" not in done.stdout  # pending, not dead
    assert "msgid=" not in done.stdout and "secret-ish" not in done.stdout
    assert lines[-1] == "3 dead letters"


def test_replay_by_id_then_all(
    dead_store: tuple[Path, list[str]], store_where: tuple[str, dict]
) -> None:
    config, ids = dead_store
    done = cli(config, "replay", ids[1])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "replayed 1 dead letter"
    listed = cli(config, "list-dead").stdout
    assert ids[1] not in listed and ids[0] in listed and ids[2] in listed

    missing = cli(config, "replay", ids[1], "no-such-id")  # neither is dead now
    assert missing.returncode == 1
    assert "replayed 0 dead letters" in missing.stdout and "2 of the ids" in missing.stderr

    done = cli(config, "replay", "--all")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "replayed 2 dead letters"
    assert cli(config, "list-dead").stdout.splitlines()[-1] == "0 dead letters"

    store = open_store(store_where[0])
    try:
        assert store.list_dead() == [] and store.outbox_depth() == 4
    finally:
        store.close()


def test_replay_needs_ids_or_all_and_a_store(
    dead_store: tuple[Path, list[str]], tmp_path: Path
) -> None:
    config, _ = dead_store
    assert cli(config, "replay").returncode == 2
    assert cli(config, "replay", "--all", "wh-0").returncode == 2
    elsewhere = write_config(tmp_path / "other.toml", {"store": {"path": "nowhere/gw.db"}})
    done = cli(elsewhere, "list-dead")
    assert done.returncode == 1 and "no store at nowhere/gw.db" in done.stderr
    assert not (tmp_path / "nowhere").exists()

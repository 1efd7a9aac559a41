"""`smpp-gateway webhooks list-dead` and `replay`, run as real processes on each store."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.model import OutboxRow
from gateway.store import open_store
from gateway.store.sql import outbox
from gateway.testing.postgres import fresh_database
from gateway.testing.process import GatewayProcess, write_config
from gateway.testing.receiver import WebhookReceiver
from gateway.testing.waiting import wait_for

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
        _write(store, lambda conn, row=row: outbox.insert(conn, row, now))
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


def test_list_dead_while_webhooks_are_in_flight_delivers_each_once(
    sim: Any, start_gateway: Any, store_url: str | None, tmp_path: Path
) -> None:
    """An admin command opens the store beside the running daemon: it must not void the
    dispatcher's leases, or the webhooks in flight would be claimed and sent again."""
    with WebhookReceiver(delay=3.0) as receiver:
        gateway = start_gateway(
            sim.port,
            webhooks={"default_callback_url": receiver.url("/cb"), "notify_statuses": ["SENT"]},
        )
        ids = [send(gateway, n) for n in range(3)]
        wait_for(lambda: receiver.count >= 3, timeout=15, what="three callbacks in flight")
        store = {"url": store_url} if store_url else {"path": str(gateway.db_path)}
        assert (
            cli(write_config(tmp_path / "admin.toml", {"store": store}), "list-dead").returncode
            == 0
        )
        receiver.set_delay(0)
        # A voided lease is claimed again within the dispatcher's 0.1 s poll, long before
        # a webhook made after the command is: once that one arrived, any repeat had too.
        marker = send(gateway, 9)
        wait_for(lambda: marker in msgids(receiver), timeout=15, what="the marker callback")
        wait_for(lambda: all(r.status is not None for r in receiver.requests), timeout=10)
        assert Counter(msgids(receiver)) == Counter([*ids, marker])
        assert gateway.metric("smpp_gateway_webhook_attempts_total") == 4


def send(gateway: GatewayProcess, n: int) -> str:
    return gateway.send(**{"from": "Shop", "to": f"4179000000{n}", "text": "x"})["id"]


def msgids(receiver: WebhookReceiver) -> list[str | None]:
    return [r.query.get("msgid") for r in receiver.requests]

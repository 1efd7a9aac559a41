"""Choosing the backend from store.url / store.path, the migrate command, SQLite retention."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config_load import ConfigError, build_config
from gateway.model import State
from gateway.store import StoreError, migrate_store, open_store
from gateway.store.location import parse_location
from gateway.store.migrate import discover
from gateway.testing.postgres import fresh_database
from tests.unit.test_store_sqlite import msg

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "kind", "target"),
    [
        ("var/gateway.db", "sqlite", "var/gateway.db"),
        ("sqlite:///var/gateway.db", "sqlite", "var/gateway.db"),
        ("sqlite:////srv/gateway.db", "sqlite", "/srv/gateway.db"),
        ("postgresql://gw@db/gateway", "postgresql", "postgresql://gw@db/gateway"),
        ("postgres://gw@db/gateway", "postgresql", "postgres://gw@db/gateway"),
    ],
)
def test_locations(value: str, kind: str, target: str) -> None:
    where = parse_location(value)
    assert (where.kind, where.target) == (kind, target)


def test_bad_urls_are_refused_by_config_and_store() -> None:
    for bad in ("mysql://x/y", "sqlite://relative"):
        with pytest.raises(ValueError):
            parse_location(bad)
        with pytest.raises(StoreError):
            open_store(bad)
    with pytest.raises(ConfigError, match=r"store\.url"):
        build_config({"store": {"url": "mysql://x/y"}}, {"SMPP_GATEWAY_HTTP_API_KEYS": "k"})


def test_password_is_redacted_for_logs() -> None:
    where = parse_location("postgresql://gw:s3cret@db:5432/gateway")
    assert "s3cret" not in where.redacted() and where.redacted().endswith("@db:5432/gateway")


def test_migrate_sqlite_file_once(tmp_path: Path) -> None:
    path = str(tmp_path / "var" / "g.db")
    assert migrate_store(path) == [m.version for m in discover()]
    assert migrate_store(f"sqlite:///{path}") == []


def test_migrate_command_on_postgresql(tmp_path: Path) -> None:
    with fresh_database("cli") as url:
        env = {"SMPP_GATEWAY_STORE_URL": url, "SMPP_GATEWAY_HTTP_API_KEYS": "k", "PATH": ""}
        config = tmp_path / "g.toml"
        config.write_text("")
        run = [sys.executable, "-m", "gateway.cli", "migrate", "--config", str(config)]
        first = subprocess.run(run, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert first.returncode == 0, first.stderr
        every = [m.version for m in discover()]
        assert every[:5] == [1, 2, 3, 4, 5]
        assert f"applied migrations {every}" in first.stdout
        again = subprocess.run(run, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert (again.returncode, again.stdout.strip()) == (0, "schema is up to date")


def test_sqlite_retention_purges_old_finished_rows_in_batches(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "g.db"))
    try:
        store.accept([msg(f"old{i}", 100.0) for i in range(5)] + [msg("new", 9000.0)])
        store.accept([msg("queued", 50.0)])
        store.claim(6)
        for i in range(5):
            store.finish(f"old{i}", State.FAILED, at=200.0)
        store.finish("new", State.SENT, at=9001.0)
        store.flush()
        assert [store.purge(5000.0, limit=3).messages for _ in range(3)] == [3, 2, 0]
        assert store.get_message("old4") is None and store.get_message("new") is not None
        assert store.get_message("queued") is not None  # not finished: kept
    finally:
        store.close()

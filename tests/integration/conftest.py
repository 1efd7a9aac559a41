"""Fixtures for tests that run the real daemon against the real simulator.

Every test that starts a daemon runs twice: on SQLite (a file in tmp_path) and on
PostgreSQL (a fresh database on the server at 127.0.0.1:5432, dropped after the test;
see gateway/testing/postgres.py). Mark a test `sqlite_only` when it looks at the SQLite file itself,
`postgres_only` when it needs several daemons on one database. Without a reachable
server the PostgreSQL variants skip with one line saying why; with CI=true they fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.testing.postgres import fresh_database
from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess

BACKENDS = ("sqlite", "postgresql")
# Short claim leases on PostgreSQL, so a test that kills a daemon sees its claims taken
# over within seconds (the default, 30 s, is for production).
POSTGRES_STORE = {"claim_lease": 3.0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sqlite_only: runs on the SQLite backend only")
    config.addinivalue_line("markers", "postgres_only: runs on the PostgreSQL backend only")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store_backend" not in metafunc.fixturenames:
        return
    backends: tuple[str, ...] = BACKENDS
    sqlite_only = metafunc.definition.get_closest_marker("sqlite_only")
    if sqlite_only:
        backends = ("sqlite",)
    elif metafunc.definition.get_closest_marker("postgres_only"):
        backends = ("postgresql",)
    metafunc.parametrize("store_backend", backends)


@pytest.fixture
def store_url(store_backend: str) -> Iterator[str | None]:
    """None on SQLite (each daemon gets a file); a fresh database URL on PostgreSQL."""
    if store_backend == "sqlite":
        yield None
        return
    with fresh_database("it") as url:
        yield url


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    """A fresh simulator; receipts off unless a test turns them on."""
    with SimulatorProcess(receipt_delay=-1) as process:
        yield process


@pytest.fixture
def start_gateway(tmp_path: Path, store_url: str | None) -> Iterator[Callable[..., GatewayProcess]]:
    """Start daemons against a simulator port; every one is stopped at the end.

    On PostgreSQL every daemon of the test uses the test's database (a restarted daemon
    finds its messages there, as it finds its file on SQLite)."""
    started: list[GatewayProcess] = []

    def start(
        smpp_port: int, wait_ready: bool = True, **overrides: dict[str, Any]
    ) -> GatewayProcess:
        workdir = tmp_path / f"gw{len(started)}"
        workdir.mkdir(exist_ok=True)
        if store_url is not None:
            overrides["store"] = {"url": store_url, **POSTGRES_STORE, **overrides.get("store", {})}
        gateway = GatewayProcess(workdir, smpp_port, **overrides)
        started.append(gateway)
        return gateway.start(wait_ready=wait_ready)

    yield start
    for gateway in started:
        gateway.__exit__(None, None, None)


@pytest.fixture
def gateway(sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway(sim.port)

"""Fixtures for tests that run the real daemon against the real simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gatewayctl import GatewayProcess
from tests.simctl import SimulatorProcess


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    """A fresh simulator; receipts off unless a test turns them on."""
    with SimulatorProcess(receipt_delay=-1) as process:
        yield process


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[Callable[..., GatewayProcess]]:
    """Start daemons against a simulator port; every one is stopped at the end."""
    started: list[GatewayProcess] = []

    def start(
        smpp_port: int, wait_ready: bool = True, **overrides: dict[str, Any]
    ) -> GatewayProcess:
        workdir = tmp_path / f"gw{len(started)}"
        workdir.mkdir(exist_ok=True)
        gateway = GatewayProcess(workdir, smpp_port, **overrides)
        started.append(gateway)
        return gateway.start(wait_ready=wait_ready)

    yield start
    for gateway in started:
        gateway.__exit__(None, None, None)


@pytest.fixture
def gateway(sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway(sim.port)

"""A full disk under the real daemon (issue 11, item 7), and the recovery, no restart.

The SQLite store lives on a small tmpfs mounted for the test; a filler file takes every
free block. Needs root (or CAP_SYS_ADMIN) for `mount`; elsewhere the test skips and
says why. The retry logic itself is unit-tested in tests/unit/test_store_faults.py.
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.helpers import all_submits, receivers

DISK_SIZE = "8m"
HELD = 8  # submits whose submit_sm_resp the simulator holds until the disk is full


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of DISK_SIZE, unmounted at the end (lazily if a daemon still holds
    a file open on it after a failed test)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the disk-full test runs where it may mount")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True, timeout=10).returncode:
            subprocess.run(["umount", "-l", str(mount)], check=True, timeout=10)


def fill(disk: Path) -> Path:
    """Write a filler file until the disk has no free block left."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        chunk = b"\0" * 65536
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    assert os.statvfs(disk).f_bavail == 0
    return filler


def post(gateway: GatewayProcess, number: str) -> tuple[int, dict]:
    response = gateway.request("POST", "/sms", {"from": "Shop", "to": number, "text": number})
    return response.status, response.json()


def metric(gateway: GatewayProcess, name: str) -> float:
    scrape = gateway.get("/metrics").body.decode()
    match = re.search(rf"^{name} (\S+)$", scrape, re.MULTILINE)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


def states(gateway: GatewayProcess, ids: list[str]) -> dict[str, str]:
    return {mid: gateway.get(f"/sms/{mid}").json()["state"] for mid in ids}


@pytest.mark.sqlite_only  # the test owns the disk; a PostgreSQL server's disk it cannot fill
def test_disk_full_refuses_sends_reports_unready_and_recovers_without_restart(
    small_disk: Path, sim: SimulatorProcess, start_gateway: Callable[..., GatewayProcess]
) -> None:
    gateway = start_gateway(
        sim.port,
        store={"path": str(small_disk / "gateway.db")},
        smpp={"response_timeout": 30.0},  # the held submits must not time out meanwhile
    )
    numbers = iter(receivers(1000))
    accepted: dict[str, str] = {}  # receiver -> message id, for every responseCode 0

    def send(count: int) -> None:
        for _ in range(count):
            number = next(numbers)
            status, body = post(gateway, number)
            assert (status, body["responseCode"]) == (200, 0), body
            accepted[number] = body["id"]

    send(3)
    wait_for(lambda: set(states(gateway, list(accepted.values())).values()) == {"sent"})

    # in flight when the disk fills: the SMSC takes them, answers after
    sim.pause()
    send(HELD)
    wait_for(lambda: sim.stats()["held_responses"] == HELD, what="submits held at the SMSC")
    held = [accepted[n] for n in list(accepted)[-HELD:]]
    filler = fill(small_disk)

    refused = 0
    for _ in range(500):  # until the disk is full: then every send is refused
        number = next(numbers)
        status, body = post(gateway, number)
        if body["responseCode"] == 0:
            assert status == 200
            accepted[number] = body["id"]
            continue
        assert (status, body["responseCode"]) == (503, 1), body
        refused += 1
        if refused == 5:
            break
    assert refused == 5, "the disk never filled"
    # each HTTP worker's writer learns from its own failed write: /readyz may first reach
    # a worker that has not written since the disk filled
    ready = wait_for(
        lambda: (answer := gateway.get("/readyz")).status == 503 and answer,
        timeout=10,
        what="/readyz 503 from a worker whose write failed",
    )
    assert ready.json()["store_writable"] is False, ready.body
    wait_for(lambda: metric(gateway, "smpp_gateway_store_writable") == 0, what="gauge at 0")

    sim.resume()  # the SMSC accepts the held ones; their results cannot be written
    wait_for(
        lambda: metric(gateway, "smpp_gateway_store_unrecorded_writes") >= HELD,
        what="results kept in memory",
    )
    assert "sent" not in states(gateway, held).values()
    assert gateway.get("/readyz").status == 503

    filler.unlink()

    def every_worker_ready() -> bool:  # each HTTP worker's writer recovers by its own probe
        answers = [gateway.get("/readyz") for _ in range(8)]
        return all(a.status == 200 and a.json()["store_writable"] is True for a in answers)

    wait_for(every_worker_ready, timeout=5, what="ready again")
    ids = list(accepted.values())
    wait_for(
        lambda: set(states(gateway, ids).values()) == {"sent"},
        timeout=20,
        interval=0.1,
        what="every accepted message sent, no restart",
    )
    seen = Counter(s["destination_addr"] for s in all_submits(sim))
    assert seen == Counter(set(accepted)), "each accepted message at the SMSC exactly once"
    assert metric(gateway, "smpp_gateway_store_write_failures_total") >= 1
    wait_for(lambda: metric(gateway, "smpp_gateway_store_unrecorded_writes") == 0)
    assert gateway.stop() == 0
    log = gateway.log()
    assert "refusing writes" in log and "writable again" in log
    assert "not recorded" not in log and "Traceback" not in log

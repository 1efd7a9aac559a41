"""Doorbells: a ring reaches the listener, rings pile into one, a missing listener is no error."""

from __future__ import annotations

import threading
from pathlib import Path

from gateway.testing.waiting import wait_for
from gateway.wakeup import Bell, Doorbell


def test_a_ring_calls_the_handler(tmp_path: Path) -> None:
    rung = threading.Event()
    bell_path = tmp_path / "engine.sock"
    doorbell = Doorbell(bell_path, rung.set, "test-doorbell").start()
    try:
        Bell(bell_path).ring()
        assert rung.wait(2.0)
    finally:
        doorbell.stop()
    assert not bell_path.exists()


def test_many_rings_while_busy_are_one_call(tmp_path: Path) -> None:
    calls: list[int] = []
    busy = threading.Event()
    release = threading.Event()

    def handler() -> None:
        calls.append(1)
        busy.set()
        release.wait(2.0)

    doorbell = Doorbell(tmp_path / "d.sock", handler, "test-doorbell").start()
    bell = Bell(tmp_path / "d.sock")
    try:
        bell.ring()
        assert busy.wait(2.0)
        for _ in range(50):  # while the handler runs: queued, then read as one
            bell.ring()
        release.set()
        wait_for(lambda: len(calls) >= 2, timeout=2.0, what="the pending rings handled")
        assert len(calls) == 2
    finally:
        release.set()
        doorbell.stop()


def test_ringing_nobody_is_harmless(tmp_path: Path) -> None:
    bell = Bell(tmp_path / "nobody.sock")
    bell.ring()
    bell.ring()
    bell.close()

"""The set of binds the daemon keeps: N sessions, as transceivers or transmitter+receiver pairs."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from gateway.smpp.session import SessionHandler, SessionSettings, SmppSession


def session_settings(base: SessionSettings, count: int, mode: str) -> list[SessionSettings]:
    """Expand the configured session count into binds.

    `transmitter_receiver` opens a transmitter and a receiver per session, so it uses two
    of the account's binds per configured session.
    """
    if mode == "transceiver":
        return [replace(base, name=f"trx{i}", bind_kind="transceiver") for i in range(count)]
    binds = []
    for i in range(count):
        binds.append(replace(base, name=f"tx{i}", bind_kind="transmitter"))
        binds.append(replace(base, name=f"rx{i}", bind_kind="receiver"))
    return binds


class SessionPool:
    """Starts, watches and stops every session; knows how many are bound."""

    def __init__(self, settings: list[SessionSettings], handler: SessionHandler) -> None:
        self.sessions = [SmppSession(s, handler) for s in settings]
        self._lock = threading.Lock()

    def start(self) -> None:
        for session in self.sessions:
            session.start()

    def stop(self, grace: float) -> None:
        """Drain all sessions in parallel so the grace period is shared, not summed."""
        threads = [
            threading.Thread(target=s.stop, args=(grace,), name=f"stop-{s.settings.name}")
            for s in self.sessions
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=grace + 5.0)

    def bound_count(self, transmitting_only: bool = False) -> int:
        return sum(
            1 for s in self.sessions if s.bound and (s.settings.transmits or not transmitting_only)
        )

    def inflight_count(self) -> int:
        return sum(s.inflight_count() for s in self.sessions)

    def snapshot(self) -> list[dict[str, Any]]:
        """Each session's bind state for `GET /status`: plain values, safe to serialise."""
        return [session.snapshot() for session in self.sessions]

"""The set of binds the daemon keeps: N sessions, as transceivers or transmitter+receiver pairs."""

from __future__ import annotations

import ssl
import threading
from typing import Any

from gateway.config import SmppSettings
from gateway.smpp.link import DeliverSink
from gateway.smpp.session import SessionHandler, SessionSettings, SmppSession


def session_settings(
    smpp: SmppSettings, tls: ssl.SSLContext | None = None
) -> list[SessionSettings]:
    """The binds the [smpp] section asks for: `sessions` transceivers, or with
    `transmitter_receiver` a transmitter and a receiver per session (two of the account's
    binds per configured session)."""
    if smpp.bind_mode == "transceiver":
        return [SessionSettings(f"trx{i}", "transceiver", smpp, tls) for i in range(smpp.sessions)]
    binds = []
    for i in range(smpp.sessions):
        binds.append(SessionSettings(f"tx{i}", "transmitter", smpp, tls))
        binds.append(SessionSettings(f"rx{i}", "receiver", smpp, tls))
    return binds


class SessionPool:
    """Starts, watches and stops every session; knows how many are bound."""

    def __init__(
        self, settings: list[SessionSettings], handler: SessionHandler, sink: DeliverSink
    ) -> None:
        self.sessions = [SmppSession(s, handler, sink) for s in settings]

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

    def snapshot(self) -> list[dict[str, Any]]:
        """Each session's bind state for `GET /status`: plain values, safe to serialise."""
        return [session.snapshot() for session in self.sessions]

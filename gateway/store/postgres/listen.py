"""LISTEN for new work, so an idle daemon wakes when another daemon accepts a message.

Why: a daemon's HTTP workers ring their own engine's doorbell after an accept, but the
other daemons' engines only see the row at their next idle poll (1 s). The accept transaction sends
NOTIFY (ops.accept); this thread holds one extra connection that LISTENs and
calls the subscribers. If the connection fails it reconnects after a pause; meanwhile
the idle poll still finds the work, only later.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger("gateway.store")


class Listener:
    def __init__(self, url: str, channel: str, retry_delay: float = 2.0) -> None:
        self._url = url
        self._channel = channel
        self._retry_delay = retry_delay
        self._subscribers: list[Callable[[], None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="store-listen", daemon=True)

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.append(callback)
        if not self._thread.is_alive() and not self._stop.is_set():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=3.0)

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                log.warning("LISTEN %s failed (%s); retrying", self._channel, exc)
                self._stop.wait(self._retry_delay)

    def _listen(self) -> None:
        with psycopg.connect(self._url, autocommit=True) as conn:
            conn.execute(f"LISTEN {self._channel}")
            while not self._stop.is_set():
                for _ in conn.notifies(timeout=0.5, stop_after=1):
                    self._notify()

    def _notify(self) -> None:
        for callback in self._subscribers:
            try:
                callback()
            except Exception:
                log.exception("new-work subscriber failed")

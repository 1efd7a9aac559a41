"""Doorbells between the daemon's processes: a one-byte datagram that says "look now".

Why: the store is the only channel between roles (an HTTP worker commits a message, the
engine claims it), and polling it often enough for low latency costs CPU while idle. So
the writer rings the reader's doorbell after its commit, and the reader also polls
slowly: a lost ring costs latency, never a message. A Unix datagram socket is the
cheapest ring there is: sending never blocks (a full queue means rings are pending
already), and a missing listener (its process restarting) is simply no ring.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("gateway.wakeup")

_RING = b"!"


class Bell:
    """The sending side: rings the doorbell at `path`, never blocks, never fails."""

    def __init__(self, path: Path) -> None:
        self._path = str(path)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def ring(self) -> None:
        with self._lock:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            # ENOENT/ECONNREFUSED: nobody listens (restarting); EAGAIN: rings are pending
            with contextlib.suppress(OSError):
                self._sock.sendto(_RING, self._path)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


class Doorbell:
    """The listening side: a thread that calls `on_ring` for each batch of rings."""

    def __init__(self, path: Path, on_ring: Callable[[], None], name: str) -> None:
        self._path = path
        self._on_ring = on_ring
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a dead predecessor's socket file
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(path))
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._listen, name=name, daemon=True)

    def start(self) -> Doorbell:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        bell = Bell(self._path)
        bell.ring()  # wakes the listener, which sees it is stopping
        bell.close()
        self._thread.join(timeout=2.0)
        self._sock.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path)

    def _listen(self) -> None:
        while True:
            try:
                self._sock.recv(64)  # blocks: an idle doorbell costs nothing
            except OSError:
                if self._stopping.is_set():
                    return
                raise
            if self._stopping.is_set():
                return
            self._drain()
            try:
                self._on_ring()
            except Exception:
                log.exception("doorbell %s: the ring handler failed", self._path.name)

    def _drain(self) -> None:
        """Rings that came meanwhile are one ring: the handler looks at everything."""
        self._sock.setblocking(False)
        try:
            while True:
                self._sock.recv(64)
        except (BlockingIOError, OSError):
            pass
        finally:
            self._sock.setblocking(True)

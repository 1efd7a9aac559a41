"""sd_notify(3) with the standard library: tell systemd READY=1, STOPPING=1, STATUS=...

Only the socket protocol is implemented: one datagram of newline-separated KEY=VALUE
lines sent to $NOTIFY_SOCKET, a filesystem path or an abstract socket ("@name"). Without
$NOTIFY_SOCKET (not started by systemd, or not Type=notify) every call is a no-op.

Why a Notifier object and not a function reading the environment each time: gunicorn's
master sends its own "READY=1" as soon as it has bound the listener, before any HTTP
worker has opened the store or the engine has started (gunicorn/arbiter.py,
Arbiter.start). The daemon takes $NOTIFY_SOCKET out of the environment before gunicorn
starts, so that early message is never sent, and keeps the address in the master's
Notifier, which sends READY=1 once every role is up (gateway/arbiter.py).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import MutableMapping

log = logging.getLogger("gateway.systemd")

ENV = "NOTIFY_SOCKET"


def _address(name: str) -> str:
    """An abstract socket is written "@name" in the variable and "\\0name" on the wire."""
    return "\0" + name[1:] if name.startswith("@") else name


class Notifier:
    """Sends notifications to one socket address; `address` None makes it a no-op."""

    def __init__(self, address: str | None) -> None:
        self.address = address or None

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """Take $NOTIFY_SOCKET out of `environ` (default os.environ): no other code in
        this process or its children sees it, so only this Notifier speaks to systemd."""
        env = os.environ if environ is None else environ
        return cls(env.pop(ENV, None))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *lines: str, **fields: str | int) -> bool:
        """Send lines ("READY=1") and fields (STATUS="..." becomes "STATUS=...") in one
        datagram. True when sent; False when disabled or the socket refused it (logged;
        a lost notification must never take the daemon down)."""
        parts = [*lines, *(f"{key}={value}" for key, value in fields.items())]
        if self.address is None or not parts:
            return False
        message = "\n".join(parts).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message, _address(self.address))
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify("READY=1", STATUS=status)

    def stopping(self, status: str) -> bool:
        return self.notify("STOPPING=1", STATUS=status)

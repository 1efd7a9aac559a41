"""Which process holds which TCP sockets, from /proc (Linux): for tests and bench/.

How keep-alive connections spread over the HTTP workers decides how much of the machine
a handful of clients can use; these read it from the kernel's tables, as `ss -tnp` does.
"""

from __future__ import annotations

import os
from pathlib import Path

LISTEN, ESTABLISHED = "0A", "01"  # TCP states in /proc/net/tcp


def _tcp_sockets(port: int, state: str) -> set[int]:
    """Inodes of IPv4 TCP sockets on local `port` in `state`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def listeners(port: int) -> int:
    """Listening sockets on `port` (the daemon has one, shared by its HTTP workers)."""
    return len(_tcp_sockets(port, LISTEN))


def _socket_inodes(pid: int) -> set[int]:
    found = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                found.add(int(target[8:-1]))
    except FileNotFoundError:
        pass
    return found


def connections_held(pids: list[int], port: int) -> dict[int, int]:
    """pid -> established connections to `port` it holds (accepted ones)."""
    established = _tcp_sockets(port, ESTABLISHED)
    return {pid: len(_socket_inodes(pid) & established) for pid in pids}


def connection_spread(pids: list[int], port: int) -> list[int]:
    """Established connections to `port` held by each of `pids` holding any, busiest first."""
    counts = connections_held(pids, port).values()
    return sorted((c for c in counts if c), reverse=True)

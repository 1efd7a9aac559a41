"""What a process tree costs, from /proc (Linux): CPU, memory, listeners, connections.

The daemon and the bare app are gunicorn masters with children (HTTP workers; the
daemon also an engine and a dispatcher), so every figure here is summed over a master
and its children. The connection spread (gateway/testing/sockets.py) shows how the
load generator's keep-alive connections landed on the workers: a run where 12 of 16 land
on one worker is a different run from an 8/8 one, and the figure says which.
"""

from __future__ import annotations

import os
from pathlib import Path

from gateway.testing.sockets import connection_spread, listeners

__all__ = ["connection_spread", "listeners"]  # with the functions below


def tree_pids(master: int) -> list[int]:
    """The master and its direct children (gunicorn forks every worker from the master)."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [master, *map(int, children)]


def cpu_seconds(pid: int) -> float:
    """utime+stime of one process (all threads); 0.0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak resident) of a process; zeros once it is gone."""
    fields = {"VmRSS": 0, "VmHWM": 0}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return fields
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in fields:
            fields[name] = int(value.split()[0])
    return fields


def pss_kib(pid: int) -> int:
    """Proportional set size: each shared page split among the processes sharing it, so
    summed over a forked tree it is what the tree really holds (VmRSS counts the pages
    the workers share with the master once per process)."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except FileNotFoundError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: all but idle and iowait).
    The difference over a phase, less what the bench's own processes used, is what the
    rest of the machine (other engineers' tests, PostgreSQL) took meanwhile."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

"""The daemon's runtime directory: what its processes share besides the store.

One directory per running daemon (systemd's RuntimeDirectory when it gives one, else a
private temporary directory the master removes at exit), holding:

- `engine.bell`, `dispatcher.bell`: the doorbells (wakeup.py) HTTP workers and the
  engine ring after a commit;
- `engine.json`: what the engine shows of itself (binds, in-memory queues), rewritten
  every STATUS_INTERVAL, so any HTTP worker can answer /readyz and /status;
- `metrics/`: prometheus_client's multiprocess files, one set per process;
- `ready/`: one empty file per process that finished starting (the master sends
  systemd READY=1 when every role has one).

Nothing here is durable: messages live in the store only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

STATUS_INTERVAL = 0.5  # seconds between engine.json rewrites
STATUS_STALE = 3.0  # an engine.json older than this: the engine is down (restarting)
ENV = "SMPP_GATEWAY_RUNTIME_DIR"  # how the children find it (set by the master)


class RunDir:
    """Paths and small files of one daemon's runtime directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls) -> RunDir:
        """A fresh, private directory (systemd's RUNTIME_DIRECTORY/run-<pid> when set)."""
        base = os.environ.get("RUNTIME_DIRECTORY")
        if base:
            path = Path(base.split(":")[0]) / f"run-{os.getpid()}"
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(mode=0o700, parents=True)
        else:
            path = Path(tempfile.mkdtemp(prefix="smpp-gateway-"))
        rundir = cls(path)
        rundir.metrics.mkdir()
        rundir.ready_dir.mkdir()
        return rundir

    @classmethod
    def from_environ(cls) -> RunDir:
        return cls(Path(os.environ[ENV]))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)

    @property
    def engine_bell(self) -> Path:
        return self.path / "engine.bell"

    @property
    def dispatcher_bell(self) -> Path:
        return self.path / "dispatcher.bell"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics"

    @property
    def ready_dir(self) -> Path:
        return self.path / "ready"

    # -- readiness ------------------------------------------------------------------

    def mark_ready(self, role: str, pid: int) -> None:
        (self.ready_dir / f"{role}.{pid}").touch()

    def ready_counts(self, live: dict[int, str]) -> Counter[str]:
        """How many live processes (pid -> role) of each role have marked themselves ready."""
        ready: Counter[str] = Counter()
        for marker in self.ready_dir.iterdir():
            role, _, pid = marker.name.rpartition(".")
            if pid.isdigit() and live.get(int(pid)) == role:
                ready[role] += 1
        return ready

    def forget(self, pid: int) -> None:
        """A process is gone: its ready marker goes with it."""
        for marker in self.ready_dir.glob(f"*.{pid}"):
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()

    # -- once per daemon ------------------------------------------------------------

    def once(self, name: str) -> bool:
        """True for the first process of this daemon that asks about `name`, False after
        (an exclusively created marker file: atomic across processes)."""
        marker = self.path / "once" / hashlib.sha256(name.encode()).hexdigest()[:32]
        marker.parent.mkdir(exist_ok=True)
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        return True

    # -- the engine's status --------------------------------------------------------

    def write_engine_status(self, status: dict[str, Any]) -> None:
        """Atomically: a reader sees the old file or the new one, never half of one."""
        tmp = self.path / f"engine.json.{os.getpid()}"
        tmp.write_text(json.dumps({**status, "at": time.time()}))
        tmp.replace(self.path / "engine.json")

    def engine_status(self) -> dict[str, Any] | None:
        """The engine's last status, or None when there is none fresh (it is down)."""
        try:
            status: dict[str, Any] = json.loads((self.path / "engine.json").read_text())
        except (OSError, ValueError):
            return None
        if time.time() - status.get("at", 0) > STATUS_STALE:
            return None
        return status

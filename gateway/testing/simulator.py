"""Run the bundled SMSC simulator as a real subprocess from tests.

    from gateway.testing.simulator import SimulatorProcess

    with SimulatorProcess(receipt_delay=0, throttle_every=3) as sim:
        connect_to("127.0.0.1", sim.port)          # SMPP port (ephemeral)
        sim.config(throttle_every=0)               # POST /config, returns the config
        stats = sim.wait_for(lambda s: s["submit_sm"] >= 10)   # polls GET /stats
        sim.submits()                              # decoded submit_sm records
        sim.mo(source="41790000001", destination="4000", text="hi")
        sim.hostile("truncate", every=3)           # a misbehaving SMSC from now on
        sim.hostile("off")
        sim.wait_deliveries_settled()              # every receipt/MO acknowledged

Keyword options map to command-line flags: `receipt_delay=0` becomes
`--receipt-delay 0`, `True` becomes a bare flag (`pause=True` -> `--pause`),
`False`/`None` are left out; `tls_cert=path, tls_key=path` (and `tls_client_ca=`)
put the SMPP port behind TLS. Both ports are ephemeral (`--port 0
--control-port auto`) and read back from the simulator's ready line, so tests
never race for free ports. The simulator's stderr goes to a temp file
(`stderr_text()`), handy in assertion messages.
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the directory that holds the gateway package
READY = re.compile(r"smsc-sim listening on ([\d.]+):(\d+) control ([\d.]+):(\d+)")
HOST = "127.0.0.1"


class SimulatorError(RuntimeError):
    """The simulator did not start, or a control request failed."""


def _flags(options: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value is not None and value is not False:
            argv += [flag, str(value)]
    return argv


class SimulatorProcess:
    """One simulator subprocess; `start()`/`stop()` or use it as a context manager."""

    system_id = "smppclient"
    password = "password"

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.host = HOST
        self.port = 0
        self.control_port = 0
        self.proc: subprocess.Popen[str] | None = None
        self._stderr: Any = None

    def __enter__(self) -> SimulatorProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0, **options: Any) -> SimulatorProcess:
        """Spawn with the constructor options overridden by `options`; wait until ready."""
        opts = {"port": 0, "control_port": "auto", **self.options, **options}
        self.system_id = str(opts.get("system_id", self.system_id))
        self.password = str(opts.get("password", self.password))
        # Lives as long as this object so stderr_text() works after stop().
        self._stderr = tempfile.TemporaryFile(mode="w+", prefix="smsc-sim-")  # noqa: SIM115
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.simulator", *_flags(opts)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )  # fmt: skip
        line = self._read_ready(timeout)
        match = READY.search(line)
        if match is None:
            self.stop()
            raise SimulatorError(f"simulator not ready: {line!r}\n{self.stderr_text()}")
        self.port, self.control_port = int(match.group(2)), int(match.group(4))
        return self

    def _read_ready(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        return self.proc.stdout.readline() if readable else ""

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()

    # -- control API -------------------------------------------------------------

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One JSON request to the control port; raises SimulatorError on HTTP errors."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"http://{HOST}:{self.control_port}{path}", data=data, method=method
        )
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as exc:
            raise SimulatorError(f"{method} {path}: {exc.code} {exc.read()!r}") from exc

    def stats(self) -> dict[str, Any]:
        return self.request("GET", "/stats")

    def submits(self, since: int = 0) -> list[dict[str, Any]]:
        """Decoded submit_sm records (with "message_id"), in arrival order from `since`."""
        return self.request("GET", f"/submits?since={since}")["submits"]

    def config(self, **knobs: Any) -> dict[str, Any]:
        """Change runtime knobs (throttle_every=3, paused=True, ...); returns the config."""
        return self.request("POST", "/config", knobs)

    def mo(self, **message: Any) -> dict[str, Any]:
        """Inject an MO: source=, destination=, text= or hex=, data_coding=, parts=, ..."""
        return self.request("POST", "/mo", message)

    def pause(self) -> None:
        self.request("POST", "/pause", {})

    def resume(self) -> None:
        self.request("POST", "/resume", {})

    def disconnect(self) -> int:
        return self.request("POST", "/disconnect", {})["closed"]

    def reset(self) -> None:
        self.request("POST", "/reset", {})

    def hostile(self, mode: str, every: int = 1, **knobs: Any) -> dict[str, Any]:
        """Switch a hostile mode (docs/simulator.md) on, or off with "off"."""
        return self.config(hostile=mode, hostile_every=every, **knobs)

    def wait_deliveries_settled(self, timeout: float = 15.0) -> dict[str, Any]:
        """Until every receipt and MO was sent and acknowledged (none queued or re-sent)."""
        return self.wait_for(
            lambda s: (
                s["receipts_pending"] == 0
                and s["queued_deliveries"] == 0
                and s["deliver_unacked"] == 0
                and s["deliver_retry_waiting"] == 0
            ),
            timeout=timeout,
        )

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 5.0
    ) -> dict[str, Any]:
        """Poll /stats until `predicate(stats)` holds; raises TimeoutError with the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator stats never matched: {stats}")
            time.sleep(0.01)  # polling interval, not synchronisation

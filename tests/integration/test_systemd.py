"""systemd/smpp-gateway.service and the daemon's sd_notify behaviour.

The unit is checked by `systemd-analyze verify` and `security` (offline; no systemd runs
in the test container) with ExecStart pointed at a stub, since the real path exists only on
an installed host. The notify protocol is checked against the real daemon: the test binds
the datagram socket systemd would, and receives what the daemon sends.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.config import SETTINGS
from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess
from gateway.testing.waiting import wait_for
from tests.integration.tooling import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "systemd" / "smpp-gateway.service"
EXEC = "/opt/smpp-gateway/bin/smpp-gateway"
PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def directives(text: str) -> dict[str, list[str]]:
    """{key: [values]} of the unit file, comments and section headers left out."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


@pytest.fixture
def stubbed_unit(tmp_path: Path) -> Path:
    """The unit with ExecStart's program replaced by an executable stub."""
    text = UNIT.read_text()
    assert f"ExecStart={EXEC} run --config /etc/smpp-gateway/gateway.toml" in text
    stub = tmp_path / "bin" / "smpp-gateway"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "smpp-gateway.service"
    unit.write_text(text.replace(EXEC, str(stub)))
    return unit


def test_unit_passes_systemd_analyze_verify(stubbed_unit: Path):
    tool = require_tool("systemd-analyze", "systemd")
    result = subprocess.run(
        [tool, "verify", str(stubbed_unit)], capture_output=True, text=True, timeout=30
    )
    # verify exits 0 on unknown keys and bad values; it only warns: any output is a finding
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_unit_security_exposure_is_low(stubbed_unit: Path):
    tool = require_tool("systemd-analyze", "systemd")
    result = subprocess.run(
        [tool, "security", "--offline=yes", "--threshold=20", "--no-pager", str(stubbed_unit)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    score = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert score is not None, result.stdout + result.stderr
    assert float(score.group(1)) <= 2.0, result.stdout
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_settings_the_daemon_relies_on():
    unit = directives(UNIT.read_text())
    assert unit["Type"] == ["notify"]
    assert unit["NotifyAccess"] == ["main"]  # READY=1 comes from the master
    assert unit["RuntimeDirectory"] == ["smpp-gateway"]  # doorbells, status, metrics files
    assert unit["KillMode"] == ["mixed"]  # one SIGTERM, to the master only
    assert "ExecReload" not in unit  # a gunicorn reload would start a second engine
    assert unit["Restart"] == ["on-failure"]
    assert unit["RestartPreventExitStatus"] == ["2"]  # `smpp-gateway run`: invalid config
    assert unit["StateDirectory"] == ["smpp-gateway"]
    env = dict(value.split("=", 1) for value in unit["Environment"])
    assert env["SMPP_GATEWAY_STORE_PATH"] == "/var/lib/smpp-gateway/gateway.db"
    known = {s.env for s in SETTINGS} | {s.file_env for s in SETTINGS if s.secret}
    assert {name for name in env if name.startswith("SMPP_GATEWAY_")} <= known
    credentials = {value.split(":", 1)[0] for value in unit["LoadCredential"]}
    for name, value in env.items():
        if name.endswith("_FILE"):
            assert value.startswith("%d/") and value[3:] in credentials, (name, value)
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "MemoryDenyWriteExecute"):
        assert unit[key] == ["yes"], key
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["CapabilityBoundingSet"] == [""]


# -- the notify protocol against the real daemon ----------------------------------------


@dataclass
class Notification:
    pid: int
    fields: dict[str, str]


@dataclass
class Listener:
    """What systemd would do: a datagram socket at $NOTIFY_SOCKET, reading sender PIDs."""

    sock: socket.socket
    db_path: Path
    port: int
    received: list[Notification] = field(default_factory=list)
    at_ready: dict[str, object] = field(default_factory=dict)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            while not any("STOPPING" in n.fields for n in self.received):
                data, ancdata, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
                pid = next(
                    struct.unpack("3i", d[:12])[0]
                    for level, kind, d in ancdata
                    if (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
                )
                lines = data.decode().splitlines()
                note = Notification(pid, dict(line.split("=", 1) for line in lines))
                if "READY" in note.fields:
                    self.at_ready = self.observe()  # right now, before anything else moves
                self.received.append(note)
        except BaseException as exc:  # reported by the test thread
            self.error = exc

    def observe(self) -> dict[str, object]:
        """Is the store open and migrated, and does HTTP answer?"""
        state: dict[str, object] = {"db_exists": self.db_path.exists()}
        try:
            with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=5) as db:
                rows = db.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
            state["tables"] = sorted(name for (name,) in rows)
        except sqlite3.Error as exc:
            state["tables"] = f"error: {exc}"
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as http:
            http.sendall(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            state["healthz"] = http.recv(64).split(b"\r\n", 1)[0].decode()
        return state


@pytest.fixture
def notify_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    """An abstract-namespace socket, the way systemd names it ("@..." in the variable)."""
    name = f"smpp-gateway-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind("\0" + name)
    sock.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    yield sock
    sock.close()


def mdwe_supported() -> bool:
    code = f"import ctypes,sys; sys.exit(ctypes.CDLL(None).prctl({PR_SET_MDWE}, 1, 0, 0, 0))"
    return subprocess.run([sys.executable, "-c", code], timeout=30).returncode == 0


@pytest.fixture
def python_with_mdwe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> bool:
    """Make GatewayProcess start the daemon with write-xor-execute memory enforced by the
    kernel (PR_SET_MDWE, inherited by fork and exec), which is what the unit's
    MemoryDenyWriteExecute=yes enforces with seccomp. False when the kernel lacks it."""
    if not mdwe_supported():
        return False
    wrapper = tmp_path / "python-mdwe"
    wrapper.write_text(
        f"#!{sys.executable}\n"
        "import ctypes, os, sys\n"
        f"if ctypes.CDLL(None).prctl({PR_SET_MDWE}, {PR_MDWE_REFUSE_EXEC_GAIN}, 0, 0, 0):\n"
        "    sys.exit('PR_SET_MDWE failed')\n"
        f"os.execv({sys.executable!r}, [{sys.executable!r}, *sys.argv[1:]])\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    return True


def children(pid: int) -> set[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return {int(child) for child in text.split()}


def test_ready_only_once_store_and_http_are_up_then_stopping_on_sigterm(
    tmp_path: Path, notify_socket: socket.socket, python_with_mdwe: bool
):
    with SimulatorProcess(receipt_delay=-1) as sim:
        gateway = GatewayProcess(tmp_path, sim.port)
        listener = Listener(notify_socket, gateway.db_path, gateway.port)
        thread = threading.Thread(target=listener.run, name="notify-listener", daemon=True)
        thread.start()
        try:
            gateway.start()
            master = gateway.proc.pid
            wait_for(lambda: listener.received or listener.error, what="READY=1")
            assert len(listener.received) == 1, listener.received
            ready = listener.received[0]
            assert ready.fields == {
                "READY": "1",
                "STATUS": f"serving on 127.0.0.1:{gateway.port}",
            }
            # sent by the master once its 2 HTTP workers, the engine and the dispatcher are up
            assert ready.pid == master and len(children(master)) == 4
            processes = children(master)
            at_ready = listener.at_ready
            assert at_ready["db_exists"] is True
            assert "messages" in at_ready["tables"], at_ready
            assert re.fullmatch(r"HTTP/1\.[01] 200 OK", str(at_ready["healthz"])), at_ready

            # the worker works (under MDWE when the kernel has it): a message reaches the SMSC
            gateway.send(**{"from": "TEST", "to": "41791234567", "text": "Hello"})
            sim.wait_for(lambda stats: stats["submit_sm"] >= 1, timeout=10)

            # SIGHUP would start a second engine: refused, the same processes keep running
            os.kill(master, signal.SIGHUP)
            wait_for(lambda: "SIGHUP ignored" in gateway.log(), what="SIGHUP refused")
            assert children(master) == processes
            assert gateway.get("/healthz").status == 200
        finally:
            code = gateway.stop()
        thread.join(timeout=30)
    assert listener.error is None, listener.error
    assert code == 0, gateway.log()
    assert [n.fields for n in listener.received[1:]] == [{"STOPPING": "1", "STATUS": "stopping"}]
    assert listener.received[1].pid == master
    # gunicorn's own notification ("Gunicorn arbiter booted") was never sent
    assert "arbiter" not in repr(listener.received)

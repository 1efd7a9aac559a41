"""Run the real daemon (`smpp-gateway run`: master, HTTP workers, engine, dispatcher) for tests."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from gateway.testing.waiting import free_port, wait_for

API_KEY = "test-key-0123456789"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    """A TOML file; a table value (e.g. clients={"crm": {...}}) becomes [section.key]."""
    lines = []
    for section, values in sections.items():
        tables = {k: v for k, v in values.items() if isinstance(v, dict)}
        if len(tables) < len(values):
            lines.append(f"[{section}]")
            lines.extend(
                f"{key} = {_toml_value(value)}"
                for key, value in values.items()
                if key not in tables
            )
            lines.append("")
        for name, table in tables.items():
            lines.append(f"[{section}.{name}]")
            lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
            lines.append("")
    path.write_text("\n".join(lines))
    return path


class Response:
    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.status = status
        self.body = body
        self.headers = headers

    def json(self) -> Any:
        return json.loads(self.body)


class GatewayProcess:
    """One daemon with its own config file, SQLite store and port."""

    def __init__(
        self,
        workdir: Path,
        smpp_port: int,
        extra_env: dict[str, str] | None = None,
        client_tls: ssl.SSLContext | None = None,
        **overrides: dict[str, Any],
    ) -> None:
        self.workdir = workdir
        self.extra_env = dict(extra_env or {})  # e.g. another SMSC's password (bench)
        self.client_tls = client_tls  # set: the API serves HTTPS, requests use this context
        self.port = free_port()
        self.db_path = workdir / "gateway.db"
        sections: dict[str, dict[str, Any]] = {
            "http": {"listen": f"127.0.0.1:{self.port}", "threads": 16},
            "smpp": {
                "host": "127.0.0.1",
                "port": smpp_port,
                "system_id": "smppclient",
                "reconnect_min_delay": 0.2,
                "reconnect_max_delay": 1.0,
                "retry_min_delay": 0.2,
                "retry_max_delay": 1.0,
                "response_timeout": 5.0,
                "stop_grace": 5.0,
            },
            "store": {"path": str(self.db_path)},
            "log": {"level": "info"},
            # the default allow-list is empty (per-message callbacks refused); tests call back
            # to a local receiver
            "webhooks": {"allowed_callback_hosts": ["127.0.0.1"]},
        }
        for section, values in overrides.items():
            sections.setdefault(section, {}).update(values)
        self.config_sections = sections
        self.config_path = write_config(workdir / "gateway.toml", sections)
        self.log_path = workdir / "gateway.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        scheme = "https" if self.client_tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def start(self, wait_ready: bool = True) -> GatewayProcess:
        (self.workdir / "run").mkdir(exist_ok=True)
        env = {
            **os.environ,
            "SMPP_GATEWAY_HTTP_API_KEYS": API_KEY,
            "SMPP_GATEWAY_SMPP_PASSWORD": "password",
            # as systemd's RuntimeDirectory: the daemon's doorbells, status and ready markers
            "RUNTIME_DIRECTORY": str(self.workdir / "run"),
            **self.extra_env,
        }
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "run", "--config", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        wait_for(self._alive_and_answering, timeout=20, what="gateway /healthz")
        if wait_ready:
            wait_for(lambda: self.get("/readyz").status == 200, timeout=20, what="gateway ready")
            wait_for(self._every_process_up, timeout=20, what="every HTTP worker and role up")
        return self

    def _every_process_up(self) -> bool:
        """/readyz needs one worker and a bind; a test that counts or kills processes needs
        all of them (what the master's READY=1 to systemd waits for)."""
        workers = int(self.config_sections["http"].get("workers", 0)) or os.cpu_count() or 1
        pids = self.pids()
        return len(pids.get("http", ())) >= workers and {"engine", "dispatcher"} <= pids.keys()

    def _alive_and_answering(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"gateway exited with {self.proc.returncode}:\n{self.log()}")
        try:
            return self.get("/healthz").status == 200
        except OSError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = API_KEY,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Response:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if key is not None:
            hdrs["X-Mitto-API-Key"] = key
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=10, context=self.client_tls) as resp:
                return Response(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as exc:
            return Response(exc.code, exc.read(), dict(exc.headers))

    def get(self, path: str, **kw: Any) -> Response:
        return self.request("GET", path, **kw)

    def metric(self, name: str, **labels: str) -> float:
        """The sum of a metric's samples with these labels in one scrape (0 when absent)."""
        from prometheus_client.parser import text_string_to_metric_families

        text = self.get("/metrics").body.decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )

    def send(self, **fields: Any) -> dict[str, Any]:
        response = self.request("POST", "/sms", fields)
        assert response.status == 200, response.body
        return response.json()

    @property
    def rundir(self) -> Path:
        """This run's runtime directory (gateway/rundir.py)."""
        assert self.proc is not None
        return self.workdir / "run" / f"run-{self.proc.pid}"

    def pids(self) -> dict[str, set[int]]:
        """Role ("http", "engine", "dispatcher") -> pids of its live, ready processes."""
        found: dict[str, set[int]] = {}
        for marker in (self.rundir / "ready").iterdir():
            role, _, pid = marker.name.rpartition(".")
            if Path(f"/proc/{pid}").exists():
                found.setdefault(role, set()).add(int(pid))
        return found

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM to the master: HTTP workers stop, the engine drains and unbinds."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9 of the whole daemon (master and every child), as a crash would."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._log.close()

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop()
            except subprocess.TimeoutExpired:
                self.kill()

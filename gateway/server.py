"""The daemon: gunicorn's master, HTTP workers, and the engine and dispatcher roles.

    smpp-gateway run
     └ master (arbiter.py): signals, supervision, ordered stop, systemd READY/STOPPING
        ├ HTTP workers x http.workers: validate, encode, make durable, answer
        ├ engine x 1 (roles.py): SMPP sessions, feeder, receipt and inbound intake
        └ dispatcher x 1 (roles.py): webhook outbox delivery

An HTTP worker builds its runtime after fork, in `load()`: its own store connection and
writer thread (SQLite: writers of every process queue on one lock), the Flask app, and
the engine's doorbell it rings after each accept. It knows the engine only through the
runtime directory (rundir.py): the doorbell and the engine's status file, which /readyz
and /status read. The workers share one listening socket and the least busy one takes each
new connection (gateway/http_worker/worker.py), so keep-alive clients spread evenly.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from gateway import arbiter, http_worker, logs, metrics, systemd
from gateway.config import Config
from gateway.config_load import config_summary
from gateway.http import create_app
from gateway.http.context import Services
from gateway.http.unknown_fields import UnknownFieldLog
from gateway.roles import RoleWorker
from gateway.rundir import RunDir
from gateway.sending import Sender
from gateway.store import Store, open_store, preload
from gateway.wakeup import Bell
from gateway.webhooks.callbacks import CallbackHooks

log = logging.getLogger("gateway.server")


@dataclass
class HttpRuntime:
    """An HTTP worker's parts: its store, the engine's doorbell, the app."""

    store: Store
    engine_bell: Bell
    app: Any

    def stop(self) -> None:
        self.engine_bell.close()
        self.store.close()


def build_http_runtime(cfg: Config, rundir: RunDir) -> HttpRuntime:
    """Assemble one HTTP worker: the one place its parts meet."""
    store = open_store(
        cfg.store,
        hooks=CallbackHooks(
            cfg.webhooks,
            cfg.store.keep_text,
            {c.name: c.callback_url for c in cfg.clients if c.callback_url},
        ),
        on_effects=metrics.observe_effects,
        on_commit=metrics.observe_commit,
        on_event=metrics.observe_store_event,
    )
    bell = Bell(rundir.engine_bell)
    sender = Sender(store, bell.ring, cfg.http.idempotency_window, time.time)

    def engine_status() -> dict[str, Any]:
        status = rundir.engine_status()
        if status is None:  # no fresh status file: the engine is starting or restarting
            return {"sessions": [], "engine": "down"}
        return {k: v for k, v in status.items() if k not in ("at", "smpp_ready")}

    def smpp_ready() -> bool:
        status = rundir.engine_status()
        return bool(status and status.get("smpp_ready"))

    services = Services(
        cfg,
        store,
        sender,
        smpp_ready,
        engine_status=engine_status,
        unknown_fields=UnknownFieldLog(first_time=rundir.once),
    )
    return HttpRuntime(store, bell, create_app(services))


def http_worker_count(cfg: Config) -> int:
    """http.workers, or one per CPU core when it is 0."""
    return cfg.http.workers or os.cpu_count() or 1


def tls_settings(http: Any) -> dict[str, Any]:
    """gunicorn's view of TLS: a certificate means HTTPS (the https URL scheme, its log
    lines). The worker builds the context itself, key included (gateway/http_worker/)."""
    return {"certfile": http.tls_certificate} if http.tls_certificate else {}


class GatewayApplication(BaseApplication):
    def __init__(self, cfg: Config, rundir: RunDir) -> None:
        self.gateway_config = cfg
        self.rundir = rundir
        self.runtime: HttpRuntime | None = None
        # read by the worker class (WorkerSettings.of)
        self.http_worker_settings = http_worker.WorkerSettings(
            request_read_timeout=cfg.http.request_read_timeout,
            max_body_bytes=cfg.http.max_body_bytes,
            tls_certificate=cfg.http.tls_certificate,
            tls_key=cfg.http.tls_key,
            tls_client_ca=cfg.http.tls_client_ca,
        )
        # Taken out of the environment before gunicorn's master sends its own, too early,
        # READY=1; the master sends it when every role is up (see gateway/systemd.py).
        self.notifier = systemd.Notifier.from_environ()
        super().__init__()

    def load_config(self) -> None:
        http = self.gateway_config.http
        settings = {
            "bind": [http.listen],
            "workers": http_worker_count(self.gateway_config),
            # gthread, except that threads only get whole requests (gateway/http_worker/)
            "worker_class": "gateway.http_worker.BufferingThreadWorker",
            "threads": http.threads,
            "worker_connections": http.max_connections,
            # one listening socket for all workers; the least busy takes each connection
            # (gateway/http_worker/worker.py: SO_REUSEPORT's hashing spread them unevenly)
            "reuse_port": False,
            "timeout": max(1, round(http.timeout)),
            "graceful_timeout": max(1, round(http.graceful_timeout)),
            "keepalive": 75,
            **tls_settings(http),
            "proc_name": "smpp-gateway",
            "errorlog": "-",
            "accesslog": "-" if self.gateway_config.log.access_log else None,
            "logger_class": logs.GunicornLogger,
            "loglevel": self.gateway_config.log.level,
            "worker_exit": self._worker_exit,
            "post_worker_init": self._post_worker_init,
            "child_exit": self._child_exit,
            # gunicornc can add workers (a second engine) and writes to $HOME: off
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        """In an HTTP worker, after fork."""
        cfg = self.gateway_config
        logs.configure(cfg.log.level, cfg.log.format, cfg.log.pdu_debug)
        log.info("config %s", config_summary(cfg))
        self.runtime = build_http_runtime(cfg, self.rundir)
        return self.runtime.app

    def _post_worker_init(self, worker: Any) -> None:
        if isinstance(worker, RoleWorker):
            return  # a role marks itself ready once it has started (roles.py)
        log.info("HTTP worker %s ready on %s", worker.pid, self.gateway_config.http.listen)
        self.rundir.mark_ready("http", worker.pid)

    def run(self) -> None:
        arbiter.run(self, self.rundir)

    def _worker_exit(self, server: Any, worker: Any) -> None:
        """In an HTTP worker as it exits (roles stop their own parts). gunicorn calls it
        while the worker's SystemExit is on its way out: an orderly exit (status 0) ends
        here, without teardown (arbiter.exit_now)."""
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        leaving = sys.exc_info()[1]
        if isinstance(leaving, SystemExit) and leaving.code in (0, None):
            arbiter.exit_now(0)

    def _child_exit(self, server: Any, worker: Any) -> None:
        """In the master, for any child that is gone: its live gauges and its ready marker
        go with it."""
        metrics.forget_process(worker.pid)
        self.rundir.forget(worker.pid)


def run(cfg: Config, rundir: RunDir) -> int:
    logs.configure(cfg.log.level, cfg.log.format, cfg.log.pdu_debug)
    preload(cfg.store)  # before the fork (gateway.store.preload)
    GatewayApplication(cfg, rundir).run()
    return 0

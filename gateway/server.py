"""The daemon: gunicorn master plus exactly one HTTP worker that owns the engine.

The engine (SMPP binds, store writer) is built in the worker after fork, in `load()`,
and stopped in the `worker_exit` hook, so a SIGTERM drains requests, then in-flight
submits, then unbinds. One worker is deliberate: binds must have one owner (DESIGN.md).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication
from prometheus_client import start_http_server

from gateway import arbiter, http_worker, logs, metrics, systemd
from gateway.config import Config
from gateway.config_load import config_summary
from gateway.config_values import parse_listen
from gateway.engine import Engine
from gateway.http import create_app
from gateway.http.context import Services
from gateway.intake import DeliverIntake
from gateway.sending import Sender
from gateway.smpp import SessionPool, session_settings, tls_context
from gateway.store import Store, open_store
from gateway.webhooks.callbacks import CallbackHooks
from gateway.webhooks.dispatcher import Dispatcher

log = logging.getLogger("gateway.server")


@dataclass
class Runtime:
    store: Store
    engine: Engine
    dispatcher: Dispatcher
    app: Any
    metrics_listen: str = ""
    _metrics_server: Any = None

    def start(self) -> None:
        self.dispatcher.start()
        self.engine.start()
        if self.metrics_listen:
            host, port = parse_listen(self.metrics_listen)
            self._metrics_server, _ = start_http_server(
                port, addr=host.strip("[]"), registry=metrics.REGISTRY
            )
            log.info("metrics listener on %s", self.metrics_listen)

    def stop(self) -> None:
        try:
            if self._metrics_server is not None:
                self._metrics_server.shutdown()
            self.engine.stop()
            self.dispatcher.stop(timeout=5.0)
        finally:
            self.store.close()


def build_runtime(cfg: Config) -> Runtime:
    """Assemble store, engine and app from the config; the one place parts meet."""
    store = open_store(
        cfg.store,
        hooks=CallbackHooks(cfg.webhooks),
        on_effects=metrics.observe_effects,
        on_commit=metrics.observe_commit,
        on_event=metrics.observe_store_event,
    )
    dispatcher = Dispatcher(store, cfg.webhooks)
    s = cfg.smpp
    binds = session_settings(s, tls_context(s))
    intake = DeliverIntake(store, gsm_charset=s.gsm_charset, on_stored=dispatcher.wake)
    engine = Engine(
        store,
        cfg,
        make_pool=lambda handler: SessionPool(binds, handler, intake),
    )
    store.on_new_work(engine.notify_new_work)  # accepts on other daemons (PostgreSQL)
    sender = Sender(store, engine.notify_new_work, cfg.http.idempotency_window, time.time)
    app = create_app(Services(cfg, store, sender, engine.ready, engine_status=engine.status))
    return Runtime(store, engine, dispatcher, app, cfg.http.metrics_listen)


def tls_settings(http: Any) -> dict[str, Any]:
    """gunicorn's view of TLS: a certificate means HTTPS (the https URL scheme, its log
    lines). The worker builds the context itself, key included (gateway/http_worker.py)."""
    return {"certfile": http.tls_certificate} if http.tls_certificate else {}


class GatewayApplication(BaseApplication):
    def __init__(self, cfg: Config) -> None:
        self.gateway_config = cfg
        self.runtime: Runtime | None = None
        # read by the worker class (WorkerSettings.of)
        self.http_worker_settings = http_worker.WorkerSettings(
            request_read_timeout=cfg.http.request_read_timeout,
            max_body_bytes=cfg.http.max_body_bytes,
            tls_certificate=cfg.http.tls_certificate,
            tls_key=cfg.http.tls_key,
            tls_client_ca=cfg.http.tls_client_ca,
        )
        # Taken out of the environment before gunicorn's master sends its own, too early,
        # READY=1; the worker sends it after load() (see gateway/systemd.py).
        self.notifier = systemd.Notifier.from_environ()
        super().__init__()

    def load_config(self) -> None:
        http = self.gateway_config.http
        settings = {
            "bind": [http.listen],
            "workers": 1,
            # gthread, except that threads only get whole requests (gateway/http_worker.py)
            "worker_class": "gateway.http_worker.BufferingThreadWorker",
            "threads": http.threads,
            "worker_connections": http.max_connections,
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
            # gunicornc can add workers (a second engine) and writes to $HOME: off
            "control_socket_disable": True,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)
        if self.cfg.workers != 1:
            raise SystemExit("smpp-gateway runs exactly one worker; scale out with more daemons")

    def load(self) -> Any:
        cfg = self.gateway_config
        logs.configure(cfg.log.level, cfg.log.format, cfg.log.pdu_debug)
        log.info("starting worker", extra={})
        log.info("config %s", config_summary(self.gateway_config))
        self.runtime = build_runtime(self.gateway_config)
        self.runtime.start()
        return self.runtime.app

    def _post_worker_init(self, worker: Any) -> None:
        log.info("worker %s ready on %s", worker.pid, self.gateway_config.http.listen)
        # load() has opened the store and started the engine; the master bound the listener
        # before fork. The worker is not systemd's main PID: the unit sets NotifyAccess=all.
        self.notifier.ready(f"serving on {self.gateway_config.http.listen}")

    def run(self) -> None:
        arbiter.run(self)  # refuses HUP/USR2/TTIN, sends STOPPING=1 (gateway/arbiter.py)

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if self.runtime is not None:
            log.info("worker exiting: draining and unbinding")
            self.runtime.stop()
            self.runtime = None


def run(cfg: Config) -> int:
    logs.configure(cfg.log.level, cfg.log.format, cfg.log.pdu_debug)
    GatewayApplication(cfg).run()
    return 0

"""The daemon: gunicorn master plus exactly one gthread worker that owns the engine.

The engine (SMPP binds, store writer) is built in the worker after fork, in `load()`,
and stopped in the `worker_exit` hook, so a SIGTERM drains requests, then in-flight
submits, then unbinds. One worker is deliberate: binds must have one owner (DESIGN.md).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from gunicorn.app.base import BaseApplication

from gateway import logs, metrics
from gateway.config import Config, config_summary
from gateway.engine import Engine, EngineSettings
from gateway.http import create_app
from gateway.http.context import Services
from gateway.smpp import SessionPool, SessionSettings, session_settings
from gateway.store import Store, open_store

log = logging.getLogger("gateway.server")


@dataclass
class Runtime:
    store: Store
    engine: Engine
    app: Any

    def stop(self) -> None:
        try:
            self.engine.stop()
        finally:
            self.store.close()


def build_runtime(cfg: Config) -> Runtime:
    """Assemble store, engine and app from the config; the one place parts meet."""
    store = open_store(
        cfg.store.path,
        commit_max_batch=cfg.store.commit_max_batch,
        commit_max_delay=cfg.store.commit_max_delay,
        on_commit=metrics.observe_commit,
    )
    s = cfg.smpp
    base = SessionSettings(
        name="",
        host=s.host,
        port=s.port,
        system_id=s.system_id,
        password=s.password,
        system_type=s.system_type,
        bind_kind="transceiver",
        window=s.window,
        response_timeout=s.response_timeout,
        enquire_link_interval=s.enquire_link_interval,
        reconnect_min_delay=s.reconnect_min_delay,
        reconnect_max_delay=s.reconnect_max_delay,
        throttle_pause=s.throttle_pause,
    )
    binds = session_settings(base, s.sessions, s.bind_mode)
    engine = Engine(
        store,
        EngineSettings(
            claim_batch=max(64, s.window * s.sessions * 4),
            ready_low_water=max(128, s.window * s.sessions * 8),
            retry_min_delay=s.retry_min_delay,
            retry_max_delay=s.retry_max_delay,
            stop_grace=s.stop_grace,
        ),
        make_pool=lambda handler: SessionPool(binds, handler),
    )
    app = create_app(Services(cfg, store, engine.notify_new_work, engine.ready))
    return Runtime(store, engine, app)


class GatewayApplication(BaseApplication):
    def __init__(self, cfg: Config) -> None:
        self.gateway_config = cfg
        self.runtime: Runtime | None = None
        super().__init__()

    def load_config(self) -> None:
        http = self.gateway_config.http
        settings = {
            "bind": [http.listen],
            "workers": 1,
            "worker_class": "gthread",
            "threads": http.threads,
            "timeout": max(1, round(http.timeout)),
            "graceful_timeout": max(1, round(http.graceful_timeout)),
            "keepalive": 75,
            "proc_name": "smpp-gateway",
            "errorlog": "-",
            "loglevel": self.gateway_config.log.level,
            "worker_exit": self._worker_exit,
            "post_worker_init": self._post_worker_init,
        }
        for key, value in settings.items():
            self.cfg.set(key, value)
        if self.cfg.workers != 1:
            raise SystemExit("smpp-gateway runs exactly one worker; scale out with more daemons")

    def load(self) -> Any:
        logs.configure(self.gateway_config.log.level)
        log.info("starting worker", extra={})
        log.info("config %s", config_summary(self.gateway_config))
        self.runtime = build_runtime(self.gateway_config)
        self.runtime.engine.start()
        return self.runtime.app

    def _post_worker_init(self, worker: Any) -> None:
        log.info("worker %s ready on %s", worker.pid, self.gateway_config.http.listen)

    def _worker_exit(self, server: Any, worker: Any) -> None:
        if self.runtime is not None:
            log.info("worker exiting: draining and unbinding")
            self.runtime.stop()
            self.runtime = None


def run(cfg: Config) -> int:
    logs.configure(cfg.log.level)
    GatewayApplication(cfg).run()
    return 0

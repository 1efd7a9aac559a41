"""The daemon's roles besides the HTTP workers: the engine and the webhook dispatcher.

Each runs in a process of its own, forked and supervised by gunicorn's master like an
HTTP worker (gateway/arbiter.py): a role that dies is started again, and its heartbeat
is gunicorn's. There is exactly one engine per daemon (the SMPP binds must have one
owner) and one dispatcher. They share nothing with the HTTP workers but the store and
the runtime directory (rundir.py): commits, doorbells, the engine's status file.

- engine: SMPP sessions, feeder, receipt and inbound intake, state decisions; woken by
  the HTTP workers' doorbell after each accept; publishes engine.json and the session
  gauges twice a second;
- dispatcher: delivers the webhook outbox; woken by the engine's doorbell when a commit
  queued webhooks; serves the optional separate /metrics listener.
"""

from __future__ import annotations

import logging
import os
import select
import threading
from typing import Any, ClassVar, Protocol

from gunicorn.workers.base import Worker
from prometheus_client import start_http_server

from gateway import logs, metrics
from gateway.config import Config
from gateway.config_values import parse_listen
from gateway.engine import Engine
from gateway.intake import DeliverIntake
from gateway.rundir import STATUS_INTERVAL, RunDir
from gateway.smpp import SessionPool, session_settings, tls_context
from gateway.store import Effects, Store, open_store
from gateway.wakeup import Bell, Doorbell
from gateway.webhooks.callbacks import CallbackHooks
from gateway.webhooks.dispatcher import Dispatcher

log = logging.getLogger("gateway.roles")

HEARTBEAT = 1.0  # seconds between gunicorn heartbeats while running


class Running(Protocol):
    """A started role: what its process stops at SIGTERM."""

    def stop(self) -> None: ...


class RoleWorker(Worker):
    """A gunicorn worker that serves no HTTP: it runs one role until told to stop."""

    role: ClassVar[str]

    def init_process(self) -> None:
        # The listeners are the HTTP workers' (the arbiter closed its copy in this child
        # already); a role never accepts.
        for listener in self.sockets:
            listener.close()
        self.sockets: list[Any] = []
        super().init_process()

    def load_wsgi(self) -> None:
        """No WSGI application in a role."""

    def run(self) -> None:
        cfg: Config = self.app.gateway_config
        logs.configure(cfg.log.level, cfg.log.format, cfg.log.pdu_debug)
        rundir = RunDir.from_environ()
        running = self.start_role(cfg, rundir)
        rundir.mark_ready(self.role, self.pid)
        log.info("%s ready (pid %d)", self.role, self.pid)
        try:
            while self.alive and self.ppid == os.getppid():  # a killed master: stop, too
                self.notify()
                self._wait(HEARTBEAT)
            if self.alive:
                log.warning("%s: the master (pid %d) is gone; stopping", self.role, self.ppid)
        finally:
            log.info("%s stopping (pid %d)", self.role, self.pid)
            running.stop()

    def _wait(self, seconds: float) -> None:
        """Sleep until a signal (gunicorn's wake-up pipe) or `seconds` pass."""
        ready, _, _ = select.select([self.PIPE[0]], [], [], seconds)
        if ready:
            try:
                while os.read(self.PIPE[0], 64):
                    pass
            except BlockingIOError:
                pass

    def start_role(self, cfg: Config, rundir: RunDir) -> Running:
        raise NotImplementedError


class EngineRole:
    """The engine process's parts, started and stopped together."""

    def __init__(self, cfg: Config, rundir: RunDir) -> None:
        self._rundir = rundir
        self._dispatcher_bell = Bell(rundir.dispatcher_bell)
        self.store = open_store(
            cfg.store,
            hooks=CallbackHooks(
                cfg.webhooks,
                cfg.store.keep_text,
                {c.name: c.callback_url for c in cfg.clients if c.callback_url},
            ),
            on_effects=self._on_effects,
            on_commit=metrics.observe_commit,
            on_event=metrics.observe_store_event,
        )
        smpp = cfg.smpp
        binds = session_settings(smpp, tls_context(smpp))
        intake = DeliverIntake(self.store, gsm_charset=smpp.gsm_charset)
        self.engine = Engine(
            self.store, cfg, make_pool=lambda handler: SessionPool(binds, handler, intake)
        )
        self._stopping = threading.Event()
        self._doorbell = Doorbell(rundir.engine_bell, self.engine.notify_new_work, "engine-bell")
        self._status = threading.Thread(target=self._publish, name="engine-status", daemon=True)

    def _on_effects(self, effects: Effects) -> None:
        """After a commit: count it, and ring the dispatcher when webhooks were queued."""
        metrics.observe_effects(effects)
        if effects.webhooks:
            self._dispatcher_bell.ring()

    def start(self) -> EngineRole:
        self.engine.start()
        self.store.on_new_work(self.engine.notify_new_work)  # other daemons (PostgreSQL)
        self._doorbell.start()
        self._publish_once()
        self._status.start()
        return self

    def _publish(self) -> None:
        while not self._stopping.wait(STATUS_INTERVAL):
            try:
                self._publish_once()
            except Exception:
                log.exception("cannot publish the engine's status")

    def _publish_once(self) -> None:
        status = {**self.engine.status(), "smpp_ready": self.engine.ready()}
        self._rundir.write_engine_status(status)
        metrics.observe_sessions(status["sessions"])

    def stop(self) -> None:
        """Take no new work, drain and unbind (engine.stop), then close the store."""
        self._doorbell.stop()
        self.engine.stop()
        self._stopping.set()
        self._status.join(timeout=2.0)
        self._rundir.write_engine_status({"sessions": [], "smpp_ready": False})
        self._dispatcher_bell.close()
        self.store.close()


class DispatcherRole:
    """The dispatcher process's parts."""

    def __init__(self, cfg: Config, rundir: RunDir) -> None:
        self.store: Store = open_store(
            cfg.store, on_commit=metrics.observe_commit, on_event=metrics.observe_store_event
        )
        self.dispatcher = Dispatcher(self.store, cfg.webhooks, clients=cfg.clients)
        self._doorbell = Doorbell(rundir.dispatcher_bell, self.dispatcher.wake, "dispatcher-bell")
        self._metrics_listen = cfg.http.metrics_listen
        self._metrics_server: Any = None

    def start(self) -> DispatcherRole:
        self.dispatcher.start()
        self._doorbell.start()
        if self._metrics_listen:
            host, port = parse_listen(self._metrics_listen)
            self._metrics_server, _ = start_http_server(
                port, addr=host.strip("[]"), registry=_MultiprocessRegistry(self.store)
            )
            log.info("metrics listener on %s", self._metrics_listen)
        return self

    def stop(self) -> None:
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
        self._doorbell.stop()
        self.dispatcher.stop(timeout=5.0)
        self.store.close()


class _MultiprocessRegistry:
    """What start_http_server collects from: every process's metrics, with the store
    gauges read now, as the API's /metrics does (metrics.exposition)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def collect(self) -> Any:
        from prometheus_client import CollectorRegistry, multiprocess

        metrics.refresh_store_gauges(self._store)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=os.environ[metrics.MULTIPROC_ENV])
        return registry.collect()


class EngineWorker(RoleWorker):
    role = "engine"

    def start_role(self, cfg: Config, rundir: RunDir) -> Running:
        return EngineRole(cfg, rundir).start()


class DispatcherWorker(RoleWorker):
    role = "dispatcher"

    def start_role(self, cfg: Config, rundir: RunDir) -> Running:
        return DispatcherRole(cfg, rundir).start()


ROLES: tuple[type[RoleWorker], ...] = (EngineWorker, DispatcherWorker)

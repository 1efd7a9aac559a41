"""gunicorn's master, made to supervise the daemon's roles and to stop them in order.

The master forks `http.workers` HTTP workers (gunicorn's own business) and one process
per role of gateway/roles.py: the engine and the dispatcher. All are in WORKERS, so
gunicorn reaps them, kills a silent one (heartbeat) and restarts what died; only this
class knows which is which:

- manage_workers keeps the HTTP worker count and exactly one process per role, and sends
  systemd READY=1 (once) when every one of them has marked itself ready;
- stop() stops the HTTP workers first (no new accepts; /readyz fails), then the engine
  (it drains the submits in flight and unbinds), then the dispatcher, each within what
  is left of `http.graceful_timeout`;
- SIGHUP, SIGUSR2, SIGTTIN and SIGTTOU are refused: a reload or a re-exec would start a
  second engine beside the first (two owners of the binds), and the worker count is
  configuration. A configuration change needs a restart (`systemctl restart`): accepted
  messages are in the store, and the next start submits them.

Every process of the daemon ends an orderly stop with exit_now(): no interpreter teardown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from typing import Any, NoReturn

from gunicorn import sock
from gunicorn.arbiter import Arbiter

from gateway.roles import ROLES, RoleWorker
from gateway.rundir import RunDir

log = logging.getLogger("gateway.arbiter")


def exit_now(status: int) -> NoReturn:
    """End a process of the daemon whose parts have stopped, without Python's teardown.

    Why: what teardown has left to do is free every imported module object by object,
    about 0.3 s of CPU per process, so an idle daemon took 1.4 s to stop instead of 0.4 s. Its
    store is closed and its threads joined by then; logs and standard streams are
    flushed here, so nothing written is lost."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(status)


STOP_POLL = 0.05  # seconds between checks while waiting for a group to exit


class GatewayArbiter(Arbiter):
    def __init__(self, app: Any, rundir: RunDir) -> None:
        self.rundir = rundir
        self._announced = False
        super().__init__(app)

    # -- supervision ---------------------------------------------------------------

    def manage_workers(self) -> None:
        """The configured HTTP workers and one process per role; READY=1 once all are up."""
        for role in ROLES:
            if not self._pids(role):
                self.spawn_role(role)
        missing = self.num_workers - len(self._pids(None))
        for _ in range(missing):
            self.spawn_worker()
        self._announce_ready()

    def _pids(self, role: type[RoleWorker] | None) -> list[int]:
        """The pids of `role`'s processes, or of the HTTP workers when None."""
        if role is None:
            return [pid for pid, w in self.WORKERS.items() if not isinstance(w, RoleWorker)]
        return [pid for pid, w in self.WORKERS.items() if isinstance(w, role)]

    def spawn_role(self, role: type[RoleWorker]) -> None:
        """Fork a role process. Unlike gunicorn's spawn_worker it hands the role no
        listener, and the child closes the copy fork gave it: a role never accepts, and
        its copy would keep the port open after the HTTP workers are gone."""
        self.worker_age += 1
        worker = role(
            self.worker_age, self.pid, [], self.app, self.timeout / 2.0, self.cfg, self.log
        )
        pid = os.fork()
        if pid != 0:
            worker.pid = pid
            self.WORKERS[pid] = worker
            return
        for sibling in self.WORKERS.values():
            sibling.tmp.close()
        for listener in getattr(self, "LISTENERS", []):
            listener.close()
        worker.pid = os.getpid()
        try:
            worker.init_process()
        except SystemExit:
            raise
        except BaseException:
            self.log.exception("%s process failed", role.role)
            sys.exit(self.WORKER_BOOT_ERROR if not worker.booted else -1)
        exit_now(0)  # the role stopped its parts (RoleWorker.run)

    def _announce_ready(self) -> None:
        if self._announced:
            return
        live = {pid: getattr(w, "role", "http") for pid, w in self.WORKERS.items()}
        ready = self.rundir.ready_counts(live)
        if ready["http"] >= self.num_workers and all(ready[role.role] for role in ROLES):
            self._announced = True
            self.app.notifier.ready(f"serving on {self.app.gateway_config.http.listen}")
            log.info("every role is up: %d HTTP workers, engine, dispatcher", ready["http"])

    # -- stopping ------------------------------------------------------------------

    def stop(self, graceful: bool = True) -> None:
        """HTTP workers first, then the engine, then the dispatcher (module docstring)."""
        listeners: list[Any] = getattr(self, "LISTENERS", [])
        sock.close_sockets(listeners, unlink=False)  # new connections are refused now
        self.LISTENERS: list[Any] = []
        sig = signal.SIGTERM if graceful else signal.SIGQUIT
        deadline = time.monotonic() + self.cfg.graceful_timeout
        for group in (None, *ROLES):
            self._stop_group(self._pids(group), sig, deadline)
        self.kill_workers(signal.SIGKILL)
        self.reap_workers()

    def _stop_group(self, pids: list[int], sig: int, deadline: float) -> None:
        for pid in pids:
            self.kill_worker(pid, sig)
        while any(pid in self.WORKERS for pid in pids) and time.monotonic() < deadline:
            self.reap_workers()
            time.sleep(STOP_POLL)

    def halt(self, reason: Any = None, exit_status: int = 0) -> None:
        """Every way the master ends goes through here: SIGTERM, SIGINT, a worker that
        failed to boot. Tell systemd first, then stop in order; remove the runtime dir."""
        notifier = getattr(self.app, "notifier", None)
        if notifier is not None:
            notifier.stopping(f"stopping: {reason}" if reason else "stopping")
        try:
            super().halt(reason, exit_status)  # ends in sys.exit(exit_status)
        except SystemExit as exc:
            exit_status = exc.code if isinstance(exc.code, int) else 1
        finally:
            self.rundir.remove()
        exit_now(exit_status)

    # -- refused signals -----------------------------------------------------------

    def _refuse(self, signame: str, what: str) -> None:
        log.warning(
            "%s ignored: %s would start a second engine or change the worker count; "
            "restart the service to apply a new configuration",
            signame,
            what,
        )

    def handle_hup(self) -> None:
        self._refuse("SIGHUP", "a gunicorn reload")

    def handle_usr2(self) -> None:
        self._refuse("SIGUSR2", "a re-exec")

    def handle_ttin(self) -> None:
        self._refuse("SIGTTIN", "adding a worker")

    def handle_ttou(self) -> None:
        self._refuse("SIGTTOU", "removing a worker")


def run(app: Any, rundir: RunDir) -> None:
    """BaseApplication.run, with our arbiter."""
    try:
        GatewayArbiter(app, rundir).run()
    except RuntimeError as exc:
        print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
        sys.exit(1)

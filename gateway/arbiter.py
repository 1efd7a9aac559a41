"""gunicorn's master, told what this daemon must never do, and made to say STOPPING=1.

The worker owns the SMPP binds and the store writer, and there must be exactly one of it
(DESIGN.md). Three stock gunicorn master signals would start a second worker beside the
first, which would then bind its own sessions and claim the same messages:

- SIGHUP (reload): spawns new workers with the re-read config, then stops the old ones;
- SIGUSR2 (re-exec for a binary upgrade): a second master with its own worker;
- SIGTTIN: one more worker.

They are refused with a warning. A configuration change needs a restart (`systemctl
restart smpp-gateway`): SIGTERM drains and unbinds, accepted messages are in the store, and
the next start submits them. gunicorn's control socket (which can also add workers) is
disabled in server.py.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.arbiter import Arbiter

log = logging.getLogger("gateway.arbiter")


class GatewayArbiter(Arbiter):
    def halt(self, reason: Any = None, exit_status: int = 0) -> None:
        """Every way the master ends goes through here: SIGTERM, SIGINT, a worker that
        failed to boot. Tell systemd first, then drain (gunicorn's stop)."""
        notifier = getattr(self.app, "notifier", None)
        if notifier is not None:
            notifier.stopping(f"stopping: {reason}" if reason else "stopping")
        super().halt(reason, exit_status)

    def _refuse(self, signame: str, what: str) -> None:
        log.warning(
            "%s ignored: %s would run a second worker beside the one that owns the SMPP "
            "binds; restart the service to apply a new configuration",
            signame,
            what,
        )

    def handle_hup(self) -> None:
        self._refuse("SIGHUP", "a gunicorn reload")

    def handle_usr2(self) -> None:
        self._refuse("SIGUSR2", "a re-exec")

    def handle_ttin(self) -> None:
        self._refuse("SIGTTIN", "adding a worker")


def run(app: Any) -> None:
    """BaseApplication.run, with our arbiter."""
    try:
        GatewayArbiter(app).run()
    except RuntimeError as exc:
        print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
        sys.exit(1)

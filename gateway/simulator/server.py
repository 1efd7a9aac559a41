"""Wiring: the SMPP listener and the control listener around one `Smsc`.

`SimulatorServer` is usable in-process (tests, benchmarks); `serve` is what the
command line runs: print the ready line, wait for SIGTERM/SIGINT, shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from gateway.simulator.config import SimConfig
from gateway.simulator.control import ControlServer
from gateway.simulator.pdulog import PduLog
from gateway.simulator.session import SmppConnection
from gateway.simulator.smsc import Smsc

CONTROL_HOST = "127.0.0.1"  # the control port has no authentication


class SimulatorServer:
    """One simulator instance: call `await start()`, read `port`, `await stop()`."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.smsc = Smsc(cfg, PduLog(cfg.pdu_log) if cfg.pdu_log else None)
        self.port = 0
        self.control_port: int | None = None
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        smpp = await loop.create_server(
            lambda: SmppConnection(self.smsc), self.cfg.host, self.cfg.port, reuse_address=True
        )
        self._servers.append(smpp)
        self.port = smpp.sockets[0].getsockname()[1]
        if self.cfg.control_port is not None:
            control = await ControlServer(self.smsc).start(CONTROL_HOST, self.cfg.control_port)
            self._servers.append(control)
            self.control_port = control.sockets[0].getsockname()[1]

    def ready_line(self) -> str:
        """The line tests wait for; it carries the real ports when 0/auto was asked."""
        control = f"{CONTROL_HOST}:{self.control_port}" if self.control_port else "off"
        return f"smsc-sim listening on {self.cfg.host}:{self.port} control {control}"

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        self.smsc.disconnect_all()
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0)  # let connection_lost callbacks run before the log closes
        if self.smsc.log is not None:
            self.smsc.log.close()


async def serve(cfg: SimConfig) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    server = SimulatorServer(cfg)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # Not possible outside the main thread or on Windows; Ctrl-C still works there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    print(server.ready_line(), flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()
    return 0

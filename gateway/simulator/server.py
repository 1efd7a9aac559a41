"""Wiring: the SMPP listener and the control listener around one `Smsc`.

`SimulatorServer` is usable in-process (tests, benchmarks); `serve` is what the
command line runs: print the ready line, wait for SIGTERM/SIGINT, shut down.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import ssl
from collections.abc import Callable

from gateway.simulator.config import SimConfig
from gateway.simulator.control import ControlServer
from gateway.simulator.pdulog import PduLog
from gateway.simulator.session import SmppConnection
from gateway.simulator.smsc import Smsc
from gateway.simulator.tls import TlsServerProtocol

CONTROL_HOST = "127.0.0.1"  # the control port has no authentication
TLS_HANDSHAKE_TIMEOUT = 10.0
_TLS_VERSIONS = {
    "1.1": ssl.TLSVersion.TLSv1_1,
    "1.2": ssl.TLSVersion.TLSv1_2,
    "1.3": ssl.TLSVersion.TLSv1_3,
}


def tls_context(cfg: SimConfig) -> ssl.SSLContext | None:
    """The SMPP listener's TLS context; None for plain TCP.

    TLS 1.2 and 1.3 by default, as an SMSC should offer; --tls-max-version 1.1 makes an
    outdated one (TLS 1.1 only, at OpenSSL security level 0) for clients that must
    refuse it. A --tls-client-ca makes a client certificate mandatory.
    """
    if cfg.tls_cert is None:
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        ctx.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        if cfg.tls_client_ca is not None:
            ctx.load_verify_locations(cfg.tls_client_ca)
    except OSError as exc:  # ssl.SSLError too
        raise ValueError(f"cannot load the TLS certificate, key or client CA: {exc}") from None
    newest = _TLS_VERSIONS[cfg.tls_max_version]
    if newest < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = newest
    ctx.maximum_version = newest
    if cfg.tls_client_ca is not None:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


class SimulatorServer:
    """One simulator instance: call `await start()`, read `port`, `await stop()`."""

    def __init__(self, cfg: SimConfig) -> None:
        self.cfg = cfg
        self.tls = tls_context(cfg)  # before anything opens: a bad file fails first
        self.smsc = Smsc(cfg, PduLog(cfg.pdu_log) if cfg.pdu_log else None)
        self.port = 0
        self.control_port: int | None = None
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        smpp = await loop.create_server(
            self._protocol_factory(), self.cfg.host, self.cfg.port, reuse_address=True
        )
        self._servers.append(smpp)
        self.port = smpp.sockets[0].getsockname()[1]
        if self.cfg.control_port is not None:
            control = await ControlServer(self.smsc).start(CONTROL_HOST, self.cfg.control_port)
            self._servers.append(control)
            self.control_port = control.sockets[0].getsockname()[1]

    def _protocol_factory(self) -> Callable[[], asyncio.Protocol]:
        def plain() -> asyncio.Protocol:
            return SmppConnection(self.smsc)

        tls = self.tls
        if tls is None:
            return plain
        return lambda: TlsServerProtocol(tls, plain, TLS_HANDSHAKE_TIMEOUT)

    def ready_line(self) -> str:
        """The line tests wait for; it carries the real ports when 0/auto was asked."""
        control = f"{CONTROL_HOST}:{self.control_port}" if self.control_port else "off"
        tls = " tls" if self.cfg.tls_cert is not None else ""
        return f"smsc-sim listening on {self.cfg.host}:{self.port} control {control}{tls}"

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

"""One SMPP bind that reconnects forever: connect, TLS, bind, serve the link, back off.

The session owns the lifecycle; everything that happens on a bound connection is the
`Link`'s (link.py), and every byte is the codec's (codec.py). All waits have timeouts so
`stop()` always finishes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gateway import metrics
from gateway.config import SmppSettings
from gateway.smpp import codec
from gateway.smpp.backoff import backoff_delay
from gateway.smpp.flow import FlowSettings, SubmitFlow
from gateway.smpp.link import POLL, DeliverSink, Link, LinkDown
from gateway.smpp.tls import TlsError, TlsStream

log = logging.getLogger("gateway.smpp")


@dataclass(frozen=True)
class SessionSettings:
    """One bind: the [smpp] section, which bind of the pool this is, and its TLS context."""

    name: str
    bind_kind: str  # transceiver | transmitter | receiver
    smpp: SmppSettings
    tls: ssl.SSLContext | None = None  # None: plain TCP

    @property
    def transmits(self) -> bool:
        return self.bind_kind in ("transceiver", "transmitter")


class SessionHandler(Protocol):
    """The engine side of a session."""

    def next_submissions(self, limit: int, timeout: float) -> list[Any]: ...

    def on_written(self, tickets: list[Any]) -> None: ...

    def on_submit_response(
        self, ticket: Any, status: int, smsc_message_id: str | None, session: str
    ) -> None: ...

    def on_session_state(self, session: str, bound: bool, reason: str) -> None: ...


Connect = Callable[[str, int, float], socket.socket]


def tcp_connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection with Nagle off: without TCP_NODELAY, Nagle and delayed ACKs stall
    each PDU ~40 ms once receipts flow (docs/architecture.md, "smpplib")."""
    sock = socket.create_connection((host, port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class BindRefused(ConnectionError):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {codec.status_name(status)}")
        self.status = status


class InvalidBindField(ValueError):
    """A bind field the PDU cannot carry (too long, not printable ASCII)."""


def flow_settings(smpp: SmppSettings) -> FlowSettings:
    return FlowSettings(
        window=smpp.window,
        window_max=max(smpp.window, smpp.window_max),
        adaptive=smpp.window_mode == "adaptive",
        response_timeout=smpp.response_timeout,
        throttle_pause=smpp.throttle_pause,
    )


class SmppSession:
    """A single bind that reconnects forever until stopped."""

    def __init__(
        self,
        settings: SessionSettings,
        handler: SessionHandler,
        sink: DeliverSink,
        clock: Callable[[], float] = time.monotonic,
        connect: Connect = tcp_connect,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self._sink = sink
        self._clock = clock
        self._connect = connect
        self._log = logging.LoggerAdapter(log, {"session": settings.name})  # a JSON field
        self._seq = codec.SequenceGenerator()
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._link: Link | None = None
        self.flow = SubmitFlow(flow_settings(settings.smpp), clock())
        self._thread: threading.Thread | None = None
        self.bound = False

    @property
    def name(self) -> str:
        return self.settings.name

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"smpp-{self.name}", daemon=True)
        self._thread.start()

    def _last_pdu_age(self) -> float:
        link = self._link  # the last link stays here after it is lost
        return self._clock() - link.last_rx if link is not None else float("nan")

    def stop(self, grace: float) -> None:
        """Take no new work, wait up to `grace` for in-flight responses, unbind, close."""
        self._draining.set()
        deadline = self._clock() + grace
        link = self._link
        if link is not None:
            link.drain(deadline)
            link.unbind(deadline)
        self._stop.set()
        if link is not None:
            link.close()
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, deadline - self._clock() + 2.0))

    def inflight_count(self) -> int:
        link = self._link
        return len(link.inflight) if link is not None else 0

    def snapshot(self) -> dict[str, Any]:
        age = self._last_pdu_age()
        return {
            "name": self.name,
            "bind": self.settings.bind_kind,
            "bound": self.bound,
            "inflight": self.inflight_count(),
            "last_pdu_age_seconds": None if age != age else round(age, 3),  # NaN: never bound
            **self._flow_view(),
        }

    def _flow_view(self) -> dict[str, Any]:
        """The flow control's state, read under the lock its link's threads hold."""
        link = self._link
        with link.window if link is not None else contextlib.nullcontext():
            pace = self.flow.pace
            return {
                "window": self.flow.window,
                "pace_per_second": None if pace is None else round(pace, 1),
                "rate_per_second": self.flow.recent_rate(self._clock()),
            }

    # -- connection loop -------------------------------------------------------------

    def _run(self) -> None:
        smpp = self.settings.smpp
        attempt = 0
        while not self._stop.is_set():
            reason = "stopped"
            try:
                link = self._connect_and_bind()
                attempt = 0
                reason = self._serve(link)
            except (OSError, LinkDown, InvalidBindField) as exc:
                reason = self._failed_attempt(exc)
            if self._stop.is_set():
                break
            attempt += 1
            delay = backoff_delay(attempt, smpp.reconnect_min_delay, smpp.reconnect_max_delay)
            self._log.info("session %s: reconnecting in %.2fs (%s)", self.name, delay, reason)
            self._stop.wait(delay)

    def _failed_attempt(self, exc: Exception) -> str:
        """Log and count one failed connect or bind (once); returns its bounded reason."""
        smpp = self.settings.smpp
        if isinstance(exc, BindRefused):
            reason = codec.status_name(exc.status)
            message = str(exc)
        elif isinstance(exc, TlsError):
            reason = exc.label
            message = f"TLS with {smpp.host}:{smpp.port} failed ({reason}): {exc}"
        elif isinstance(exc, InvalidBindField):  # gateway/config.py refuses these at start
            reason = "invalid_bind_field"
            message = str(exc)
        else:
            reason = type(exc).__name__
            message = f"connection failed: {exc}"
        if not self._stop.is_set():
            metrics.SESSION_BIND_FAILURES.labels(self.name, reason).inc()
            self._log.warning("session %s: %s", self.name, message)
        return reason

    def _connect_and_bind(self) -> Link:
        smpp = self.settings.smpp
        seq = self._seq.next_sequence()
        try:
            bind = codec.bind(
                self.settings.bind_kind, seq, smpp.system_id, smpp.password, smpp.system_type
            )
        except ValueError as exc:
            raise InvalidBindField(str(exc)) from None
        sock = self._connect(smpp.host, smpp.port, smpp.response_timeout)
        link = self._link_over(sock)
        try:
            if self.settings.tls is not None:
                link = self._link_over(self._start_tls(sock, self.settings.tls))
            link.send(bind)
            self._await_bind_resp(link, seq)
        except BaseException:
            link.close()
            raise
        link.stream.settimeout(POLL)
        return link

    def _link_over(self, stream: socket.socket | TlsStream) -> Link:
        smpp = self.settings.smpp
        return Link(
            stream,
            codec.Framer(),
            name=self.name,
            flow=self.flow,
            response_timeout=smpp.response_timeout,
            enquire_link_interval=smpp.enquire_link_interval,
            sequences=self._seq,
            engine=self.handler,
            sink=self._sink,
            clock=self._clock,
        )

    def _start_tls(self, sock: socket.socket, ctx: ssl.SSLContext) -> TlsStream:
        """The TLS handshake, bounded by response_timeout; TlsError says why it failed."""
        smpp = self.settings.smpp
        stream = TlsStream(sock, ctx, smpp.tls_server_name or smpp.host)
        stream.handshake(smpp.response_timeout)
        stream.settimeout(smpp.response_timeout)  # the bind's write gets a plain one's time
        self._log.info(
            "session %s: %s with %s:%d (%s)",
            self.name,
            stream.version(),
            smpp.host,
            smpp.port,
            stream.cipher(),
        )
        return stream

    def _await_bind_resp(self, link: Link, seq: int) -> None:
        deadline = self._clock() + self.settings.smpp.response_timeout
        link.stream.settimeout(POLL)
        while self._clock() < deadline and not self._stop.is_set():
            try:
                chunk = link.stream.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise LinkDown("connection closed before the bind response")
            for data in link.framer.feed(chunk):
                header = codec.read_header(data)
                if header.sequence == seq and header.is_response:
                    if header.status != codec.ESME_ROK:
                        raise BindRefused(header.status)
                    return
                if header.command_id == codec.ENQUIRE_LINK:
                    link.send(codec.header_only(codec.ENQUIRE_LINK_RESP, header.sequence))
        raise LinkDown("no bind response")

    def _serve(self, link: Link) -> str:
        """Run one bound link until it fails or the session stops."""
        self._link = link
        self._set_bound(True, "bound")
        reason = "stopped"
        try:
            link.serve(self.settings.transmits, self._stop, self._draining)
        except (LinkDown, OSError) as exc:
            if not self._stop.is_set():  # stop() closes the socket under the reader
                reason = str(exc) or type(exc).__name__
                self._log.warning("session %s: link down: %s", self.name, reason)
        finally:
            self._set_bound(False, reason)
            link.close()
            link.fail_inflight(codec.CONNECTION_LOST)
        return reason

    def _set_bound(self, bound: bool, reason: str) -> None:
        self.bound = bound
        self.handler.on_session_state(self.name, bound, reason)

"""One SMPP bind: connect, bind, pipeline submits in a window, keep the link alive, rebind.

Each session has a connection thread (connect, bind, then read every PDU) and, when it
can transmit, a writer thread that takes work while the window has room. Writes share
one lock because smpplib has none and interleaved writes corrupt the stream. All waits
have timeouts so `stop()` always finishes.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Protocol

from gateway import metrics
from gateway.smpp import pdus
from gateway.smpp.backoff import backoff_delay
from gateway.smpp.framing import FrameReader, FramingError
from gateway.smpp.status import CONNECTION_LOST, ESME_RTHROTTLED, RESPONSE_TIMEOUT, status_name
from gateway.smpp.tls import TlsError, TlsStream

log = logging.getLogger("gateway.smpp")

POLL = 0.2  # seconds between housekeeping passes (timeouts, enquire_link)

GENERIC_NACK = 0x80000000
SUBMIT_SM_RESP = 0x80000004
DELIVER_SM = 0x00000005
DATA_SM = 0x00000103
UNBIND = 0x00000006
UNBIND_RESP = 0x80000006
ENQUIRE_LINK = 0x00000015
ENQUIRE_LINK_RESP = 0x80000015
ESME_RINVCMDLEN = 0x02
ESME_RINVCMDID = 0x03
ESME_RSYSERR = 0x08


@dataclass(frozen=True)
class SessionSettings:
    name: str
    host: str
    port: int
    system_id: str
    password: str
    system_type: str
    bind_kind: str  # transceiver | transmitter | receiver
    window: int = 10
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    reconnect_min_delay: float = 1.0
    reconnect_max_delay: float = 60.0
    throttle_pause: float = 1.0
    tls: ssl.SSLContext | None = None  # None: plain TCP
    tls_server_name: str = ""  # the name the SMSC's certificate must carry; "": host

    @property
    def transmits(self) -> bool:
        return self.bind_kind in ("transceiver", "transmitter")


class Submission(Protocol):
    """What a session needs of a unit of work; the engine's ticket satisfies it."""

    @property
    def params(self) -> Any: ...

    @property
    def payload(self) -> bytes: ...


class SessionHandler(Protocol):
    """The engine side of a session."""

    def next_submissions(self, limit: int, timeout: float) -> list[Any]: ...

    def on_submit_response(
        self, ticket: Any, status: int, smsc_message_id: str | None, session: str
    ) -> None: ...

    def on_deliver(self, raw: bytes, session: str) -> int | Future[int]: ...

    def on_session_state(self, session: str, bound: bool, reason: str) -> None: ...


class LinkDown(ConnectionError):
    """The connection must be dropped and re-established."""


class BindRefused(ConnectionError):
    def __init__(self, status: int) -> None:
        super().__init__(f"bind refused: {status_name(status)}")
        self.status = status


class InvalidBindField(ValueError):
    """A bind field the PDU cannot carry (too long, not printable ASCII)."""


class _Connection:
    """State of one TCP connection: socket, write lock, in-flight window."""

    def __init__(self, sock: socket.socket | TlsStream) -> None:
        self.sock = sock
        self.reader = FrameReader(sock)
        self.write_lock = threading.Lock()
        self.window = threading.Condition()
        self.inflight: dict[int, tuple[Any, float]] = {}
        self.alive = True
        self.last_rx = time.monotonic()
        self.probe: tuple[int, float] | None = None  # outstanding enquire_link
        self.paused_until = 0.0
        self.unbound = threading.Event()

    def send(self, data: bytes) -> None:
        try:
            with self.write_lock:
                self.sock.sendall(data)
        except OSError as exc:
            self.alive = False
            raise LinkDown(f"write failed: {exc}") from exc


class SmppSession:
    """A single bind that reconnects forever until stopped."""

    def __init__(
        self,
        settings: SessionSettings,
        handler: SessionHandler,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.handler = handler
        self._clock = clock
        self._seq = pdus.SequenceGenerator()
        self._stop = threading.Event()
        self._draining = threading.Event()
        self._conn: _Connection | None = None
        self._thread: threading.Thread | None = None
        self.bound = False

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        metrics.SESSION_LAST_PDU_AGE.labels(self.settings.name).set_function(self._last_pdu_age)
        metrics.SESSION_INFLIGHT.labels(self.settings.name).set_function(self.inflight_count)
        self._thread = threading.Thread(
            target=self._run, name=f"smpp-{self.settings.name}", daemon=True
        )
        self._thread.start()

    def _last_pdu_age(self) -> float:
        conn = self._conn  # the last connection stays here after it is lost
        return self._clock() - conn.last_rx if conn is not None else float("nan")

    def stop(self, grace: float) -> None:
        """Take no new work, wait up to `grace` for in-flight responses, unbind, close."""
        self._draining.set()
        deadline = self._clock() + grace
        conn = self._conn
        if conn is not None:
            with conn.window:
                while conn.inflight and conn.alive and self._clock() < deadline:
                    conn.window.wait(min(POLL, max(0.0, deadline - self._clock())))
            self._unbind(conn, deadline)
        self._stop.set()
        if conn is not None:
            self._close(conn)
        if self._thread is not None:
            self._thread.join(timeout=max(1.0, deadline - self._clock() + 2.0))

    def inflight_count(self) -> int:
        conn = self._conn
        return len(conn.inflight) if conn is not None else 0

    def snapshot(self) -> dict[str, Any]:
        age = self._last_pdu_age()
        return {
            "name": self.settings.name,
            "bind": self.settings.bind_kind,
            "bound": self.bound,
            "inflight": self.inflight_count(),
            "last_pdu_age_seconds": None if age != age else round(age, 3),  # NaN: never bound
        }

    # -- connection loop -------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            reason = "stopped"
            try:
                conn = self._connect_and_bind()
                attempt = 0
                reason = self._serve(conn)
            except (OSError, LinkDown, InvalidBindField) as exc:
                reason = self._failed_attempt(exc)
            if self._stop.is_set():
                break
            attempt += 1
            delay = backoff_delay(
                attempt, self.settings.reconnect_min_delay, self.settings.reconnect_max_delay
            )
            log.info("session %s: reconnecting in %.2fs (%s)", self.settings.name, delay, reason)
            self._stop.wait(delay)

    def _failed_attempt(self, exc: Exception) -> str:
        """Log and count one failed connect or bind (once); returns its bounded reason."""
        name = self.settings.name
        if isinstance(exc, BindRefused):
            reason = status_name(exc.status)
            message = str(exc)
        elif isinstance(exc, TlsError):
            reason = exc.label
            message = f"TLS with {self.settings.host}:{self.settings.port} failed ({reason}): {exc}"
        elif isinstance(exc, InvalidBindField):  # gateway/config.py refuses these at start
            reason = "invalid_bind_field"
            message = str(exc)
        else:
            reason = type(exc).__name__
            message = f"connection failed: {exc}"
        if not self._stop.is_set():
            metrics.SESSION_BIND_FAILURES.labels(name, reason).inc()
            log.warning("session %s: %s", name, message)
        return reason

    def _connect_and_bind(self) -> _Connection:
        s = self.settings
        seq = self._seq.next_sequence()
        try:
            bind = pdus.bind_pdu(s.bind_kind, seq, s.system_id, s.password, s.system_type)
        except ValueError as exc:
            raise InvalidBindField(str(exc)) from None
        sock = socket.create_connection((s.host, s.port), timeout=s.response_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = _Connection(sock)
        try:
            if s.tls is not None:
                conn = _Connection(self._start_tls(sock, s.tls))
            conn.send(bind)
            self._await_bind_resp(conn, seq)
        except BaseException:
            self._close(conn)
            raise
        conn.sock.settimeout(POLL)
        return conn

    def _start_tls(self, sock: socket.socket, ctx: ssl.SSLContext) -> TlsStream:
        """The TLS handshake, bounded by response_timeout; TlsError says why it failed."""
        s = self.settings
        stream = TlsStream(sock, ctx, s.tls_server_name or s.host)
        stream.handshake(s.response_timeout)
        stream.settimeout(s.response_timeout)  # the bind's write gets the time a plain one has
        log.info(
            "session %s: %s with %s:%d (%s)",
            s.name,
            stream.version(),
            s.host,
            s.port,
            stream.cipher(),
        )
        return stream

    def _await_bind_resp(self, conn: _Connection, seq: int) -> None:
        deadline = self._clock() + self.settings.response_timeout
        conn.sock.settimeout(POLL)
        while self._clock() < deadline and not self._stop.is_set():
            data = conn.reader.read_pdu()
            if data is None:
                continue
            header = pdus.read_header(data)
            if header.sequence == seq and header.command_id & 0x80000000:
                if header.status != 0:
                    raise BindRefused(header.status)
                return
            if header.command_id == ENQUIRE_LINK:
                conn.send(pdus.simple_pdu("enquire_link_resp", header.sequence))
        raise LinkDown("no bind response")

    def _serve(self, conn: _Connection) -> str:
        """Run one bound connection until it fails or the session stops."""
        self._conn = conn
        self._set_bound(True, "bound")
        writer = None
        if self.settings.transmits:
            writer = threading.Thread(
                target=self._write_loop,
                args=(conn,),
                name=f"smpp-{self.settings.name}-tx",
                daemon=True,
            )
            writer.start()
        reason = "stopped"
        try:
            self._read_loop(conn)
        except (LinkDown, OSError) as exc:
            reason = str(exc) or type(exc).__name__
            if not self._stop.is_set():
                log.warning("session %s: link down: %s", self.settings.name, reason)
        finally:
            conn.alive = False
            with conn.window:
                conn.window.notify_all()
            if writer is not None:
                writer.join(timeout=5.0)
            self._set_bound(False, reason)
            self._close(conn)
            self._fail_inflight(conn, CONNECTION_LOST)
        return reason

    def _set_bound(self, bound: bool, reason: str) -> None:
        self.bound = bound
        self.handler.on_session_state(self.settings.name, bound, reason)

    # -- writing ---------------------------------------------------------------------

    def _write_loop(self, conn: _Connection) -> None:
        window = self.settings.window
        while conn.alive and not self._draining.is_set():
            with conn.window:
                while conn.alive and len(conn.inflight) >= window:
                    conn.window.wait(POLL)
                room = window - len(conn.inflight)
            pause = conn.paused_until - self._clock()
            if pause > 0:
                self._stop.wait(min(pause, POLL))
                continue
            if not conn.alive or room <= 0:
                continue
            tickets = self.handler.next_submissions(room, POLL)
            if tickets:
                self._submit(conn, tickets)

    def _submit(self, conn: _Connection, tickets: list[Any]) -> None:
        now = self._clock()
        chunks = []
        with conn.window:
            for ticket in tickets:
                seq = self._seq.next_sequence()
                conn.inflight[seq] = (ticket, now)
                chunks.append(pdus.submit_sm_pdu(seq, ticket.params, ticket.payload))
        try:
            conn.send(b"".join(chunks))
        except LinkDown:
            self._close(conn)  # the reader notices and fails the window

    # -- reading ---------------------------------------------------------------------

    def _read_loop(self, conn: _Connection) -> None:
        next_housekeeping = self._clock() + POLL
        while not self._stop.is_set():
            if not conn.alive:
                raise LinkDown("connection closed")
            try:
                data = conn.reader.read_pdu()
            except FramingError as exc:
                self._refuse_stream(conn, exc)
            if data is not None:
                conn.last_rx = self._clock()
                self._dispatch(conn, data)
            if self._clock() >= next_housekeeping:
                self._housekeeping(conn)
                next_housekeeping = self._clock() + POLL

    def _dispatch(self, conn: _Connection, data: bytes) -> None:
        header = pdus.read_header(data)
        command_id = header.command_id
        if command_id == SUBMIT_SM_RESP:
            self._on_submit_resp(conn, header, data)
        elif command_id in (DELIVER_SM, DATA_SM):
            self._on_deliver(conn, header, data)
        elif command_id == ENQUIRE_LINK:
            conn.send(pdus.simple_pdu("enquire_link_resp", header.sequence))
        elif command_id == ENQUIRE_LINK_RESP:
            if conn.probe is not None and conn.probe[0] == header.sequence:
                rtt = self._clock() - conn.probe[1]
                metrics.SESSION_ENQUIRE_LINK_SECONDS.labels(self.settings.name).observe(rtt)
            conn.probe = None
        elif command_id == UNBIND:
            conn.send(pdus.simple_pdu("unbind_resp", header.sequence))
            raise LinkDown("SMSC unbound")
        elif command_id == UNBIND_RESP:
            conn.unbound.set()
        elif command_id == GENERIC_NACK:
            self._on_generic_nack(conn, header)
        elif not command_id & 0x80000000:
            log.warning("session %s: unknown command 0x%08X", self.settings.name, command_id)
            conn.send(pdus.simple_pdu("generic_nack", header.sequence, status=ESME_RINVCMDID))

    def _refuse_stream(self, conn: _Connection, exc: FramingError) -> None:
        """generic_nack ESME_RINVCMDLEN for an impossible command_length, then hang up:
        after a wrong length no later byte can be framed (in-flight submits are retried)."""
        if exc.sequence is not None:
            with contextlib.suppress(LinkDown):
                conn.send(pdus.simple_pdu("generic_nack", exc.sequence, status=ESME_RINVCMDLEN))
        raise LinkDown(f"framing: {exc}") from exc

    def _take_inflight(self, conn: _Connection, seq: int) -> Any | None:
        with conn.window:
            entry = conn.inflight.pop(seq, None)
            conn.window.notify_all()
        return entry[0] if entry else None

    def _on_submit_resp(self, conn: _Connection, header: pdus.Header, data: bytes) -> None:
        message_id = None
        if header.status == 0:
            try:
                message_id = pdus.submit_sm_resp_message_id(data)
            except pdus.MalformedPdu as exc:  # the ticket stays in flight: retried on rebind
                raise LinkDown(f"stream out of step: {exc}") from exc
        ticket = self._take_inflight(conn, header.sequence)
        if ticket is None:
            log.warning(
                "session %s: submit_sm_resp for unknown seq %d (late?)",
                self.settings.name,
                header.sequence,
            )
            return
        if header.status == ESME_RTHROTTLED:
            conn.paused_until = self._clock() + self.settings.throttle_pause
        self.handler.on_submit_response(ticket, header.status, message_id, self.settings.name)

    def _on_generic_nack(self, conn: _Connection, header: pdus.Header) -> None:
        ticket = self._take_inflight(conn, header.sequence)
        log.warning(
            "session %s: generic_nack %s for seq %d",
            self.settings.name,
            status_name(header.status),
            header.sequence,
        )
        if ticket is not None:
            status = header.status or ESME_RSYSERR
            if status == ESME_RTHROTTLED:
                conn.paused_until = self._clock() + self.settings.throttle_pause
            self.handler.on_submit_response(ticket, status, None, self.settings.name)

    def _on_deliver(self, conn: _Connection, header: pdus.Header, data: bytes) -> None:
        """Hand the PDU to the handler; answer when its (possibly deferred) status is known.

        A handler that must reach the disk first returns a Future, so this reader keeps
        reading while the write commits; the resp goes out from the committing thread.
        """
        try:
            status = self.handler.on_deliver(data, self.settings.name)
        except Exception:
            log.exception("session %s: deliver handler failed", self.settings.name)
            status = ESME_RSYSERR
        if isinstance(status, Future):
            status.add_done_callback(lambda done: self._answer_deliver(conn, header, done.result()))
        else:
            self._answer_deliver(conn, header, status)

    def _answer_deliver(self, conn: _Connection, header: pdus.Header, status: int) -> None:
        if header.command_id == DELIVER_SM:
            data = pdus.deliver_sm_resp(header.sequence, status)
        else:
            data = pdus.simple_pdu("data_sm_resp", header.sequence, status=status)
        try:
            conn.send(data)
        except LinkDown:  # unanswered, so the SMSC delivers it again on the next bind
            log.warning(
                "session %s: link lost before deliver resp %d", self.settings.name, header.sequence
            )

    # -- timers ----------------------------------------------------------------------

    def _housekeeping(self, conn: _Connection) -> None:
        now = self._clock()
        self._expire_inflight(conn, now)
        interval = self.settings.enquire_link_interval
        silent = now - conn.last_rx
        if silent >= interval:
            raise LinkDown(f"no PDU for {silent:.1f}s (enquire_link unanswered)")
        if conn.probe is None and silent >= interval / 2:
            seq = self._seq.next_sequence()
            conn.probe = (seq, now)
            conn.send(pdus.simple_pdu("enquire_link", seq))

    def _expire_inflight(self, conn: _Connection, now: float) -> None:
        """Unanswered submits are retried, and the link is dropped: an SMSC that does not
        answer in time is stuck, or its stream is out of step; left up, it would take the
        retries too and answer them late, each late answer a duplicate to the handset."""
        limit = now - self.settings.response_timeout
        with conn.window:
            expired = [seq for seq, (_, sent) in conn.inflight.items() if sent < limit]
        for seq in expired:
            ticket = self._take_inflight(conn, seq)
            if ticket is not None:
                self.handler.on_submit_response(ticket, RESPONSE_TIMEOUT, None, self.settings.name)
        if expired:
            timeout = self.settings.response_timeout
            raise LinkDown(f"no submit_sm_resp within {timeout:g}s for {len(expired)} submits")

    def _fail_inflight(self, conn: _Connection, status: int) -> None:
        with conn.window:
            entries = list(conn.inflight.values())
            conn.inflight.clear()
            conn.window.notify_all()
        for ticket, _ in entries:
            self.handler.on_submit_response(ticket, status, None, self.settings.name)

    def _unbind(self, conn: _Connection, deadline: float) -> None:
        if not conn.alive:
            return
        try:
            conn.send(pdus.simple_pdu("unbind", self._seq.next_sequence()))
        except LinkDown:
            return
        conn.unbound.wait(max(0.0, min(2.0, deadline - self._clock())))

    def _close(self, conn: _Connection) -> None:
        conn.alive = False
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)
        conn.sock.close()

"""One bound SMPP connection: the window, the reader, the writer and the responder.

Threads, all of this link's and all named after its session:

- the reader (the session's own thread) frames PDUs with the codec and acts on them;
  every `POLL` it also times out unanswered submits and probes a silent SMSC;
- the writer (`-tx`, transmitting binds only) takes work from the engine while the
  session's flow control (flow.py: the window and the pace) gives room, and writes one
  batch of submit_sm per write;
- the responder (`-resp`) answers deliver_sm/data_sm whose store write finished. The
  store's writer thread only hands it the result, so a slow or dead SMSC socket never
  holds up the commits HTTP callers wait for.

Writes share one lock, as two threads writing at once would interleave PDUs.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from gateway import metrics
from gateway.smpp import codec
from gateway.smpp.codec import DeliverSm, Header
from gateway.smpp.flow import CONGESTION, SubmitFlow

log = logging.getLogger("gateway.smpp")
pdu_log = logging.getLogger("gateway.smpp.pdu")  # log.pdu_debug turns it on

POLL = 0.2  # seconds between housekeeping passes (timeouts, enquire_link)
READ_SIZE = 65536


class Stream(Protocol):
    """A connected socket, or tls.TlsStream: recv raises TimeoutError when idle."""

    def recv(self, bufsize: int, /) -> bytes: ...

    def sendall(self, data: bytes, /) -> None: ...

    def settimeout(self, timeout: float | None, /) -> None: ...

    def shutdown(self, how: int, /) -> None: ...

    def close(self) -> None: ...


class LinkDown(ConnectionError):
    """The connection must be dropped and bound again."""


class Engine(Protocol):
    """What a link needs of the engine (SessionHandler in session.py)."""

    def next_submissions(self, limit: int, timeout: float) -> list[Any]: ...

    def on_written(self, tickets: list[Any]) -> None: ...

    def on_submit_response(
        self, ticket: Any, status: int, smsc_message_id: str | None, session: str
    ) -> None: ...


class DeliverSink(Protocol):
    """Where a decoded deliver_sm/data_sm goes (gateway/intake.py). Its answer is the
    resp's command_status, or a Future of it when the store must commit first."""

    def deliver(self, pdu: DeliverSm, session: str) -> int | Future[int]: ...


class Link:
    """State and threads of one bound connection; `serve()` runs until it goes down."""

    def __init__(
        self,
        stream: Stream,
        framer: codec.Framer,
        *,
        name: str,
        flow: SubmitFlow,
        response_timeout: float,
        enquire_link_interval: float,
        sequences: codec.SequenceGenerator,
        engine: Engine,
        sink: DeliverSink,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.framer = framer
        self.name = name
        self._log = logging.LoggerAdapter(log, {"session": name})  # a JSON field
        self.flow = flow  # the session's: it outlives this link
        self._response_timeout = response_timeout
        self._enquire_link_interval = enquire_link_interval
        self._round_trip = metrics.SUBMIT_ROUND_TRIP.labels(name)
        self._seq = sequences
        self._engine = engine
        self._sink = sink
        self._clock = clock
        self._write_lock = threading.Lock()
        self.window = threading.Condition()
        # seq -> (ticket, when written, submits unanswered then: itself included)
        self.inflight: dict[int, tuple[Any, float, int]] = {}
        self.alive = True
        self.last_rx = clock()
        self._probe: tuple[int, float] | None = None  # outstanding enquire_link
        self.unbound = threading.Event()
        self._answers: queue.SimpleQueue[tuple[Header, Future[int]] | None] = queue.SimpleQueue()

    # -- lifecycle -------------------------------------------------------------------

    def serve(self, transmits: bool, stopping: threading.Event, draining: threading.Event) -> None:
        """Read until the link fails or `stopping` is set; LinkDown/OSError say why."""
        threads = [self._thread("resp", self._answer_loop)]
        if transmits:
            threads.append(self._thread("tx", self._write_loop, draining))
        try:
            self._read_loop(stopping)
        finally:
            self.alive = False
            self._answers.put(None)
            with self.window:
                self.window.notify_all()
            for thread in threads:
                thread.join(timeout=5.0)

    def _thread(self, role: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        thread = threading.Thread(
            target=target, args=args, name=f"smpp-{self.name}-{role}", daemon=True
        )
        thread.start()
        return thread

    def send(self, data: bytes) -> None:
        if pdu_log.isEnabledFor(logging.DEBUG):
            self._log_pdus("out", data)
        try:
            with self._write_lock:
                self.stream.sendall(data)
        except OSError as exc:
            self.alive = False
            raise LinkDown(f"write failed: {exc}") from exc

    def close(self) -> None:
        self.alive = False
        with contextlib.suppress(OSError):
            self.stream.shutdown(2)  # socket.SHUT_RDWR
        self.stream.close()

    def fail_inflight(self, status: int) -> None:
        """Every unanswered submit gets `status` (the link is gone: retried elsewhere)."""
        with self.window:
            entries = list(self.inflight.values())
            self.inflight.clear()
            self.window.notify_all()
        for ticket, *_ in entries:
            self._engine.on_submit_response(ticket, status, None, self.name)

    def drain(self, deadline: float) -> None:
        """Wait until no submit is unanswered, the link fails, or `deadline` passes."""
        with self.window:
            while self.inflight and self.alive and self._clock() < deadline:
                self.window.wait(min(POLL, max(0.0, deadline - self._clock())))

    def unbind(self, deadline: float) -> None:
        if not self.alive:
            return
        try:
            self.send(codec.header_only(codec.UNBIND, self._seq.next_sequence()))
        except LinkDown:
            return
        self.unbound.wait(max(0.0, min(2.0, deadline - self._clock())))

    # -- writing ---------------------------------------------------------------------

    def _write_loop(self, draining: threading.Event) -> None:
        while self.alive and not draining.is_set():
            with self.window:
                while self.alive and len(self.inflight) >= self.flow.window:
                    self.window.wait(POLL)
                room, wait = self.flow.room(len(self.inflight), self._clock())
            if not self.alive:
                continue
            if room <= 0:
                draining.wait(min(wait, POLL))
                continue
            tickets = self._engine.next_submissions(room, POLL)
            if tickets:
                self._submit(tickets)

    def _submit(self, tickets: list[Any]) -> None:
        now = self._clock()
        chunks = []
        with self.window:
            in_use = len(self.inflight) + len(tickets)  # the batch goes out as one write
            for ticket in tickets:
                seq = self._seq.next_sequence()
                self.inflight[seq] = (ticket, now, in_use)
                chunks.append(codec.submit_sm(seq, ticket.params, ticket.payload))
            self.flow.sent(len(tickets), now)
        self._engine.on_written(tickets)  # queued before the bytes leave (possible duplicates)
        try:
            self.send(b"".join(chunks))
        except LinkDown:
            self.close()  # the reader notices and fails the window

    # -- reading ---------------------------------------------------------------------

    def _read_loop(self, stopping: threading.Event) -> None:
        next_housekeeping = self._clock() + POLL
        while not stopping.is_set():
            if not self.alive:
                raise LinkDown("connection closed")
            for data in self._read():
                self.last_rx = self._clock()
                self._dispatch(data)
            if self._clock() >= next_housekeeping:
                self._housekeeping()
                next_housekeeping = self._clock() + POLL

    def _read(self) -> list[bytes]:
        """The PDUs the framer holds already (the bind's read may have brought more than
        the bind_resp), else those one read completes; [] when the socket was idle."""
        try:
            held = list(self.framer.feed(b""))
            if held:
                return held
            try:
                chunk = self.stream.recv(READ_SIZE)
            except TimeoutError:
                return []
            if not chunk:
                raise LinkDown("connection closed by the SMSC")
            return list(self.framer.feed(chunk))
        except codec.FramingError as exc:
            raise self._refuse_stream(exc) from exc

    def _log_pdus(self, direction: str, data: bytes) -> None:
        """Each PDU of `data` (one or several whole PDUs) by its header (log.pdu_debug)."""
        for pdu in codec.Framer().feed(data):
            pdu_log.debug("%s %s", direction, codec.describe(pdu), extra={"session": self.name})

    def _dispatch(self, data: bytes) -> None:
        if pdu_log.isEnabledFor(logging.DEBUG):
            self._log_pdus("in", data)
        header = codec.read_header(data)
        command_id = header.command_id
        if command_id == codec.SUBMIT_SM_RESP:
            self._on_submit_resp(header, data)
        elif command_id in (codec.DELIVER_SM, codec.DATA_SM):
            self._on_deliver(header, data)
        elif command_id == codec.ENQUIRE_LINK:
            self.send(codec.header_only(codec.ENQUIRE_LINK_RESP, header.sequence))
        elif command_id == codec.ENQUIRE_LINK_RESP:
            if self._probe is not None and self._probe[0] == header.sequence:
                rtt = self._clock() - self._probe[1]
                metrics.SESSION_ENQUIRE_LINK_SECONDS.labels(self.name).observe(rtt)
            self._probe = None
        elif command_id == codec.UNBIND:
            self.send(codec.header_only(codec.UNBIND_RESP, header.sequence))
            raise LinkDown("SMSC unbound")
        elif command_id == codec.UNBIND_RESP:
            self.unbound.set()
        elif command_id == codec.GENERIC_NACK:
            self._on_generic_nack(header)
        elif not header.is_response:
            self._log.warning("session %s: unknown command 0x%08X", self.name, command_id)
            self.send(codec.header_only(codec.GENERIC_NACK, header.sequence, codec.ESME_RINVCMDID))

    def _refuse_stream(self, exc: codec.FramingError) -> LinkDown:
        """generic_nack ESME_RINVCMDLEN for an impossible command_length, then hang up:
        after a wrong length no later byte can be framed (in-flight submits are retried)."""
        if exc.sequence is not None:
            with contextlib.suppress(LinkDown):
                nack = codec.header_only(codec.GENERIC_NACK, exc.sequence, codec.ESME_RINVCMDLEN)
                self.send(nack)
        return LinkDown(f"framing: {exc}")

    def _take_inflight(self, seq: int, status: int) -> Any | None:
        """The ticket written with `seq`, out of the window; flow control hears the answer."""
        with self.window:
            entry = self.inflight.pop(seq, None)
            if entry is not None:
                now = self._clock()
                if status != codec.RESPONSE_TIMEOUT:
                    self._round_trip.observe(now - entry[1])
                    self.flow.answered(status, entry[1], entry[2], now)
                if status in CONGESTION:
                    metrics.SUBMIT_CONGESTION.labels(self.name, "throttled").inc()
            self.window.notify_all()
        return entry[0] if entry else None

    def _on_submit_resp(self, header: Header, data: bytes) -> None:
        message_id = None
        if header.status == codec.ESME_ROK:
            try:
                message_id = codec.submit_sm_resp_message_id(data)
            except codec.DecodeError as exc:  # the ticket stays in flight: retried on rebind
                raise LinkDown(f"stream out of step: {exc}") from exc
        ticket = self._take_inflight(header.sequence, header.status)
        if ticket is None:
            self._log.warning(
                "session %s: submit_sm_resp for unknown seq %d (late?)", self.name, header.sequence
            )
            return
        self._engine.on_submit_response(ticket, header.status, message_id, self.name)

    def _on_generic_nack(self, header: Header) -> None:
        status = header.status or codec.ESME_RSYSERR
        ticket = self._take_inflight(header.sequence, status)
        self._log.warning(
            "session %s: generic_nack %s for seq %d",
            self.name,
            codec.status_name(header.status),
            header.sequence,
        )
        if ticket is not None:
            self._engine.on_submit_response(ticket, status, None, self.name)

    # -- deliver_sm / data_sm ----------------------------------------------------------

    def _on_deliver(self, header: Header, data: bytes) -> None:
        """Decode and hand to the sink; the answer goes out when its status is known.

        A PDU that cannot be read at all is answered ESME_RX_P_APPN (do not retry) and
        logged with its bytes: retrying garbage forever would block the SMSC's queue."""
        try:
            pdu = codec.decode_deliver(data)
        except codec.DecodeError as exc:
            metrics.DELIVER_REJECTED.labels("unreadable").inc()
            self._log.warning("unreadable deliver_sm on %s (%s): %s", self.name, exc, data.hex())
            self._answer(header, codec.ESME_RX_P_APPN)
            return
        try:
            status = self._sink.deliver(pdu, self.name)
        except Exception:
            self._log.exception("session %s: deliver sink failed", self.name)
            status = codec.ESME_RX_T_APPN
        if isinstance(status, Future):
            status.add_done_callback(lambda done: self._answers.put((header, done)))
        else:
            self._answer(header, status)

    def _answer_loop(self) -> None:
        """The responder: answers stored deliver_sm in the order their commits finished."""
        while True:
            item = self._answers.get()
            if item is None:
                return
            header, done = item
            failed = done.exception() is not None  # the store could not take it: again later
            self._answer(header, codec.ESME_RX_T_APPN if failed else done.result())

    def _answer(self, header: Header, status: int) -> None:
        try:
            self.send(codec.deliver_resp(header.command_id, header.sequence, status))
        except LinkDown:  # unanswered, so the SMSC delivers it again on the next bind
            self._log.warning(
                "session %s: link lost before deliver resp %d", self.name, header.sequence
            )

    # -- timers ----------------------------------------------------------------------

    def _housekeeping(self) -> None:
        now = self._clock()
        self._expire_inflight(now)
        interval = self._enquire_link_interval
        silent = now - self.last_rx
        if silent >= interval:
            raise LinkDown(f"no PDU for {silent:.1f}s (enquire_link unanswered)")
        if self._probe is None and silent >= interval / 2:
            seq = self._seq.next_sequence()
            self._probe = (seq, now)
            self.send(codec.header_only(codec.ENQUIRE_LINK, seq))

    def _expire_inflight(self, now: float) -> None:
        """Unanswered submits are retried, and the link is dropped: an SMSC that does not
        answer in time is stuck, or its stream is out of step; left up, it would take the
        retries too and answer them late, each late answer a duplicate to the handset."""
        limit = now - self._response_timeout
        with self.window:
            expired = [seq for seq, (_, sent, _) in self.inflight.items() if sent < limit]
        if expired:
            metrics.SUBMIT_CONGESTION.labels(self.name, "timeout").inc(len(expired))
            with self.window:
                self.flow.timed_out(now)
        for seq in expired:
            ticket = self._take_inflight(seq, codec.RESPONSE_TIMEOUT)
            if ticket is not None:
                self._engine.on_submit_response(ticket, codec.RESPONSE_TIMEOUT, None, self.name)
        if expired:
            timeout = self._response_timeout
            raise LinkDown(f"no submit_sm_resp within {timeout:g}s for {len(expired)} submits")

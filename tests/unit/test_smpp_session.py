"""SmppSession against a scripted SMSC (issue 12, item 8): no simulator, no TCP.

The session is handed a `connect` that returns one end of a socket pair; the test plays
the SMSC on the other end, reading the gateway's PDUs with the codec's Framer and the
simulator's independent parsers, and writing its own. The clock is injected: real time
plus an offset the test moves forward, so a response timeout needs no waiting. The
engine and the deliver sink are small fakes that record what the session tells them.
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest

from gateway import metrics
from gateway.config_load import build_config
from gateway.model import SubmitParams
from gateway.simulator.pdu import ShortMessage, encode_sm, parse_bind, parse_sm, pdu
from gateway.smpp import codec
from gateway.smpp.codec import DeliverSm, Header
from gateway.smpp.session import SessionSettings, SmppSession
from gateway.store import StoreError
from gateway.testing.waiting import wait_for

STEP = 5.0  # the longest one step of a conversation may take before the test fails
API_ENV = {"SMPP_GATEWAY_HTTP_API_KEYS": "unit-test-key"}
RESPONSE_TIMEOUT = 5.0
PARAMS = SubmitParams(
    source_addr="MITTO",
    source_addr_ton=5,
    source_addr_npi=0,
    destination_addr="41790000001",
    dest_addr_ton=1,
    dest_addr_npi=1,
    data_coding=0,
    esm_class=0,
)


def smpp_section() -> Any:
    """A real [smpp] section: fast reconnects; no enquire_link within a test's lifetime."""
    values = {
        "system_id": "gwuser",
        "password": "secret1",
        "window": 4,
        "response_timeout": RESPONSE_TIMEOUT,
        "enquire_link_interval": 600.0,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.1,
    }
    return build_config({"smpp": values}, environ=API_ENV).smpp


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


# -- the fakes ---------------------------------------------------------------------------


class Clock:
    """Monotonic time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@dataclass(frozen=True, eq=False)
class FakeTicket:
    """What a session needs of the engine's Ticket."""

    label: str
    params: SubmitParams = PARAMS
    payload: bytes = b"hello"


class Handler:
    """The engine side: hands out tickets the test offers, records every callback.
    `gate`, when set, holds on_written until the test releases it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._offered: list[FakeTicket] = []
        self.written: list[FakeTicket] = []
        self.responses: list[tuple[FakeTicket, int, str | None, str]] = []
        self.states: list[tuple[str, bool, str]] = []
        self.gate: threading.Event | None = None
        self.writing = threading.Event()

    def offer(self, *tickets: FakeTicket) -> None:
        with self._cond:
            self._offered.extend(tickets)
            self._cond.notify_all()

    def next_submissions(self, limit: int, timeout: float) -> list[Any]:
        with self._cond:
            if not self._offered:  # shorter than the engine's wait: a link stops sooner
                self._cond.wait(min(timeout, 0.02))
            taken = self._offered[:limit]
            del self._offered[:limit]
            return taken

    def on_written(self, tickets: list[Any]) -> None:
        self.written.extend(tickets)
        self.writing.set()
        if self.gate is not None:
            self.gate.wait(STEP)

    def on_submit_response(
        self, ticket: Any, status: int, smsc_message_id: str | None, session: str
    ) -> None:
        self.responses.append((ticket, status, smsc_message_id, session))

    def on_session_state(self, session: str, bound: bool, reason: str) -> None:
        self.states.append((session, bound, reason))

    def binds(self) -> int:
        return sum(1 for _, bound, _ in self.states if bound)


class Sink:
    """The DeliverSink: records each decoded PDU and answers what `answer` says."""

    def __init__(self) -> None:
        self.calls: list[DeliverSm] = []
        self.answer: Callable[[DeliverSm], int | Future[int]] = lambda pdu: codec.ESME_ROK

    def deliver(self, pdu: DeliverSm, session: str) -> int | Future[int]:
        self.calls.append(pdu)
        return self.answer(pdu)


class RecordingSocket(socket.socket):
    """The gateway's end of the pair; remembers which thread wrote each command."""

    writers: list[tuple[int, str]]

    def sendall(self, data: Any, flags: int = 0, /) -> None:
        command_id = int.from_bytes(bytes(data[4:8]), "big")
        self.writers.append((command_id, threading.current_thread().name))
        super().sendall(data, flags)


class Smsc:
    """The SMSC end of one connection: reads the gateway's PDUs, writes its own."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(STEP)
        self._framer = codec.Framer()
        self._held: deque[bytes] = deque()

    def read(self) -> tuple[Header, bytes]:
        while not self._held:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the gateway closed the connection")
            self._held.extend(self._framer.feed(chunk))
        data = self._held.popleft()
        return codec.read_header(data), data

    def expect(self, command_id: int) -> tuple[Header, bytes]:
        header, data = self.read()
        assert header.command_id == command_id, f"got 0x{header.command_id:08X}: {data.hex()}"
        return header, data

    def send(self, *pdus: bytes) -> None:
        self.sock.sendall(b"".join(pdus))

    def accept_bind(self, status: int = codec.ESME_ROK) -> dict[str, Any]:
        """Answer the bind; returns its fields as they were on the wire."""
        header, data = self.read()
        assert header.command_id in (codec.BIND_TRANSCEIVER, codec.BIND_TRANSMITTER)
        self.send(bind_resp(header, status))
        return parse_bind(data[codec.HEADER_LENGTH :])

    def answer(self, header: Header, message_id: str, status: int = codec.ESME_ROK) -> None:
        self.send(pdu(codec.SUBMIT_SM_RESP, status, header.sequence, message_id.encode() + b"\0"))

    def wait_closed(self) -> None:
        """Read until the gateway hangs up; a PDU still arriving is an error."""
        chunk = self.sock.recv(65536)
        assert chunk == b"", f"expected the gateway to hang up, got {chunk.hex()}"

    def nothing_pending(self) -> bool:
        """Whether no byte has arrived (without waiting)."""
        self.sock.settimeout(0.0)  # with a timeout, recv would wait for data first
        try:
            return not self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return True
        finally:
            self.sock.settimeout(STEP)

    def quiet_for(self, seconds: float) -> bool:
        """Whether nothing arrives within `seconds` (a bounded negative check)."""
        if self._held:  # framed already, not yet read
            return False
        self.sock.settimeout(seconds)
        try:
            return not self.sock.recv(1, socket.MSG_PEEK)
        except TimeoutError:
            return True
        finally:
            self.sock.settimeout(STEP)


class Connector:
    """The session's `connect`: a new socket pair per call, the SMSC ends in a queue."""

    def __init__(self) -> None:
        self._peers: queue.Queue[Smsc] = queue.Queue()
        self.gateway_ends: list[RecordingSocket] = []
        self.smsc_ends: list[socket.socket] = []
        self.times: list[float] = []

    def __call__(self, host: str, port: int, timeout: float) -> socket.socket:
        gateway_end, smsc_end = socket.socketpair()
        wrapped = RecordingSocket(
            gateway_end.family, gateway_end.type, gateway_end.proto, fileno=gateway_end.detach()
        )
        wrapped.writers = []
        self.gateway_ends.append(wrapped)
        self.smsc_ends.append(smsc_end)
        self.times.append(time.monotonic())
        self._peers.put(Smsc(smsc_end))
        return wrapped

    def next(self) -> Smsc:
        """The SMSC end of the session's next connection (waits up to STEP for it)."""
        return self._peers.get(timeout=STEP)

    def writer_of(self, command_id: int) -> list[str]:
        """The threads that wrote `command_id`, over every connection."""
        return [name for s in self.gateway_ends for cmd, name in s.writers if cmd == command_id]

    def close(self) -> None:
        for sock in [*self.gateway_ends, *self.smsc_ends]:
            sock.close()


def bind_resp(bind: Header, status: int = codec.ESME_ROK) -> bytes:
    return pdu(bind.command_id | codec.RESP, status, bind.sequence, b"SMSC\0")


def deliver_sm(sequence: int, text: bytes = b"hi there") -> bytes:
    body = encode_sm(
        ShortMessage(source_addr=b"41791234567", destination_addr=b"MITTO", short_message=text)
    )
    return pdu(codec.DELIVER_SM, 0, sequence, body)


# -- fixtures ----------------------------------------------------------------------------


@dataclass
class Gateway:
    session: SmppSession
    connector: Connector
    handler: Handler
    sink: Sink
    clock: Clock

    def bound(self, count: int = 1) -> None:
        wait_for(lambda: self.handler.binds() >= count, timeout=STEP, what=f"{count} binds")


@pytest.fixture
def gw() -> Iterator[Gateway]:
    """A started transceiver session; stopped (without grace) at the end."""
    connector, handler, sink, clock = Connector(), Handler(), Sink(), Clock()
    settings = SessionSettings("trx0", "transceiver", smpp_section(), None)
    session = SmppSession(settings, handler, sink, clock=clock, connect=connector)
    session.start()
    yield Gateway(session, connector, handler, sink, clock)
    session.stop(0.0)
    connector.close()


@pytest.fixture
def smsc(gw: Gateway) -> Smsc:
    """The SMSC end of the session's first connection, bound."""
    peer = gw.connector.next()
    peer.accept_bind()
    gw.bound()
    return peer


# -- bind and submit -----------------------------------------------------------------------


def test_bind_carries_the_credentials_then_submits_and_reports_the_smsc_id(gw: Gateway) -> None:
    peer = gw.connector.next()
    header, data = peer.expect(codec.BIND_TRANSCEIVER)
    fields = parse_bind(data[codec.HEADER_LENGTH :])
    assert (fields["system_id"], fields["password"]) == ("gwuser", "secret1")
    assert fields["interface_version"] == 0x34
    peer.send(bind_resp(header))
    gw.bound()
    assert gw.handler.states == [("trx0", True, "bound")]

    ticket = FakeTicket("m1/0")
    gw.handler.offer(ticket)
    submit, data = peer.expect(codec.SUBMIT_SM)
    sm = parse_sm(data[codec.HEADER_LENGTH :])
    assert (sm.source_addr, sm.destination_addr, sm.short_message) == (
        b"MITTO",
        b"41790000001",
        b"hello",
    )
    assert gw.handler.written == [ticket]
    peer.answer(submit, "smsc-id-1")
    wait_for(lambda: gw.handler.responses, timeout=STEP, what="the submit_sm_resp")
    assert gw.handler.responses == [(ticket, codec.ESME_ROK, "smsc-id-1", "trx0")]


def test_on_written_runs_before_the_submit_leaves_the_socket(gw: Gateway, smsc: Smsc) -> None:
    """The store must know a submit was written before the SMSC can have it: a crash in
    between is what possible_duplicates counts."""
    gw.handler.gate = threading.Event()
    gw.handler.offer(FakeTicket("m1/0"))
    assert gw.handler.writing.wait(STEP)
    assert smsc.nothing_pending()  # on_written is still running: no byte has left
    gw.handler.gate.set()
    smsc.expect(codec.SUBMIT_SM)


def test_refused_bind_backs_off_counts_the_failure_and_binds_again(gw: Gateway) -> None:
    failures = {"session": "trx0", "reason": "ESME_RBINDFAIL"}
    before = sample("smpp_gateway_session_bind_failures_total", failures)
    for _ in range(2):
        peer = gw.connector.next()
        peer.accept_bind(status=0x0D)
        peer.wait_closed()
    gw.connector.next().accept_bind()
    gw.bound()

    assert sample("smpp_gateway_session_bind_failures_total", failures) - before == 2
    assert gw.handler.states == [("trx0", True, "bound")]  # a refused bind was never bound
    t = gw.connector.times
    # backoff: [0.5, 1] x min_delay (0.05 s) after the first failure, doubled after the second
    assert t[1] - t[0] >= 0.025
    assert t[2] - t[1] >= 0.05


# -- deliver_sm ----------------------------------------------------------------------------


def test_undecodable_deliver_sm_is_answered_rx_p_appn_and_never_reaches_the_sink(
    gw: Gateway, smsc: Smsc
) -> None:
    before = sample("smpp_gateway_deliver_rejected_total", {"reason": "unreadable"})
    smsc.send(pdu(codec.DELIVER_SM, 0, 77, b"\x00\x01"))  # cut short after service_type
    header, _ = smsc.expect(codec.DELIVER_SM_RESP)
    assert (header.sequence, header.status) == (77, codec.ESME_RX_P_APPN)
    assert gw.sink.calls == []
    assert sample("smpp_gateway_deliver_rejected_total", {"reason": "unreadable"}) == before + 1


def test_deliver_sm_is_answered_when_the_sinks_future_resolves(gw: Gateway, smsc: Smsc) -> None:
    stored: Future[int] = Future()
    gw.sink.answer = lambda pdu: stored
    smsc.send(deliver_sm(78, b"hi there"))
    wait_for(lambda: gw.sink.calls, timeout=STEP, what="the sink's call")
    assert (gw.sink.calls[0].source_addr, gw.sink.calls[0].payload) == ("41791234567", b"hi there")

    # the reader has handled the deliver_sm; what it answers next is the enquire_link
    smsc.send(codec.header_only(codec.ENQUIRE_LINK, 79))
    header, _ = smsc.read()
    assert (header.command_id, header.sequence) == (codec.ENQUIRE_LINK_RESP, 79)

    stored.set_result(codec.ESME_ROK)  # on this thread, as the store's writer would
    header, _ = smsc.expect(codec.DELIVER_SM_RESP)
    assert (header.sequence, header.status) == (78, codec.ESME_ROK)
    # the resp is written by the session's responder, never by the thread that committed
    assert gw.connector.writer_of(codec.DELIVER_SM_RESP) == ["smpp-trx0-resp"]


def failed_future(pdu: DeliverSm) -> Future[int]:
    stored: Future[int] = Future()
    stored.set_exception(StoreError("disk full"))
    return stored


def raising(pdu: DeliverSm) -> int:
    raise RuntimeError("sink bug")


@pytest.mark.parametrize("answer", [failed_future, raising], ids=["future-fails", "sink-raises"])
def test_deliver_sm_the_sink_could_not_take_is_answered_rx_t_appn(
    gw: Gateway, smsc: Smsc, answer: Callable[[DeliverSm], int | Future[int]]
) -> None:
    gw.sink.answer = answer
    smsc.send(deliver_sm(80))
    header, _ = smsc.expect(codec.DELIVER_SM_RESP)
    assert (header.sequence, header.status) == (80, codec.ESME_RX_T_APPN)
    assert len(gw.sink.calls) == 1


def test_pdus_in_the_same_write_as_the_bind_resp_are_answered(gw: Gateway) -> None:
    """Regression: they sat in the framer until the SMSC sent something else."""
    peer = gw.connector.next()
    bind, _ = peer.expect(codec.BIND_TRANSCEIVER)
    peer.send(bind_resp(bind), deliver_sm(90), codec.header_only(codec.ENQUIRE_LINK, 91))
    answers = {peer.read()[0] for _ in range(2)}  # no further byte from the SMSC
    assert {(h.command_id, h.sequence, h.status) for h in answers} == {
        (codec.DELIVER_SM_RESP, 90, codec.ESME_ROK),
        (codec.ENQUIRE_LINK_RESP, 91, codec.ESME_ROK),
    }
    assert len(gw.sink.calls) == 1


# -- other PDUs from the SMSC ----------------------------------------------------------------


def test_enquire_link_from_the_smsc_is_answered(gw: Gateway, smsc: Smsc) -> None:
    smsc.send(codec.header_only(codec.ENQUIRE_LINK, 31))
    header, _ = smsc.expect(codec.ENQUIRE_LINK_RESP)
    assert (header.sequence, header.status) == (31, codec.ESME_ROK)


def test_unknown_command_gets_generic_nack_and_the_link_stays(gw: Gateway, smsc: Smsc) -> None:
    smsc.send(codec.header_only(0x00000099, 41))
    header, _ = smsc.expect(codec.GENERIC_NACK)
    assert (header.sequence, header.status) == (41, codec.ESME_RINVCMDID)
    smsc.send(codec.header_only(codec.ENQUIRE_LINK, 42))
    assert smsc.expect(codec.ENQUIRE_LINK_RESP)[0].sequence == 42


def test_unbind_from_the_smsc_is_answered_and_the_session_binds_again(
    gw: Gateway, smsc: Smsc
) -> None:
    smsc.send(codec.header_only(codec.UNBIND, 50))
    header, _ = smsc.expect(codec.UNBIND_RESP)
    assert (header.sequence, header.status) == (50, codec.ESME_ROK)
    smsc.wait_closed()
    gw.connector.next().accept_bind()
    gw.bound(2)
    assert ("trx0", False, "SMSC unbound") in gw.handler.states


def test_absurd_command_length_is_nacked_and_the_link_dropped(gw: Gateway, smsc: Smsc) -> None:
    smsc.send(codec.HEADER.pack(10_000_000, codec.DELIVER_SM, 0, 61))
    header, _ = smsc.expect(codec.GENERIC_NACK)
    assert (header.sequence, header.status) == (61, codec.ESME_RINVCMDLEN)
    smsc.wait_closed()
    gw.connector.next().accept_bind()
    gw.bound(2)
    lost = [reason for _, bound, reason in gw.handler.states if not bound]
    assert len(lost) == 1 and "absurd command_length" in lost[0]


# -- timers and stop -----------------------------------------------------------------------


def test_unanswered_submit_times_out_and_the_link_is_dropped(gw: Gateway, smsc: Smsc) -> None:
    ticket = FakeTicket("m1/0")
    gw.handler.offer(ticket)
    smsc.expect(codec.SUBMIT_SM)
    assert gw.handler.responses == []
    gw.clock.advance(RESPONSE_TIMEOUT + 1)
    wait_for(lambda: gw.handler.responses, timeout=STEP, what="the timeout")
    assert gw.handler.responses == [(ticket, codec.RESPONSE_TIMEOUT, None, "trx0")]
    smsc.wait_closed()
    gw.connector.next().accept_bind()  # and binds again
    gw.bound(2)


def test_stop_waits_for_the_window_then_unbinds(gw: Gateway, smsc: Smsc) -> None:
    tickets = [FakeTicket("m1/0"), FakeTicket("m2/0")]
    gw.handler.offer(*tickets)
    submits = [smsc.expect(codec.SUBMIT_SM)[0] for _ in tickets]
    stopper = threading.Thread(target=gw.session.stop, args=(STEP,), name="test-stop")
    started = time.monotonic()
    stopper.start()

    smsc.answer(submits[0], "id-1")
    assert smsc.quiet_for(0.3)  # no unbind while a submit is unanswered
    smsc.answer(submits[1], "id-2")
    unbind, _ = smsc.expect(codec.UNBIND)
    smsc.send(codec.header_only(codec.UNBIND_RESP, unbind.sequence))
    stopper.join(STEP)
    assert not stopper.is_alive()
    assert time.monotonic() - started < STEP  # the unbind_resp ended it, not the grace

    assert [(t, status) for t, status, _, _ in gw.handler.responses] == [
        (tickets[0], codec.ESME_ROK),
        (tickets[1], codec.ESME_ROK),
    ]
    assert gw.handler.states[-1] == ("trx0", False, "stopped")


# -- flow control on a live link (the rule itself: test_smpp_flow.py) ---------------------


def submits_until_quiet(smsc: Smsc, quiet: float = 0.3) -> list[Header]:
    """Every submit_sm the gateway writes until it stops for `quiet` seconds."""
    headers = []
    while not smsc.quiet_for(quiet):
        headers.append(smsc.expect(codec.SUBMIT_SM)[0])
    return headers


def test_the_window_grows_while_answers_come_back_with_work_waiting(
    gw: Gateway, smsc: Smsc
) -> None:
    gw.handler.offer(*(FakeTicket(f"m{i}/0") for i in range(40)))
    first = submits_until_quiet(smsc)
    assert len(first) == 4  # the configured window: nothing more until an answer
    for header in first:
        smsc.answer(header, "id")
    second = submits_until_quiet(smsc)
    assert len(second) == 8  # slow start: each success let one more go
    assert gw.session.snapshot()["window"] == 8
    assert sample("smpp_gateway_submit_round_trip_seconds_count", {"session": "trx0"}) >= 4


def test_throttling_halves_the_window_and_paces_the_session(gw: Gateway, smsc: Smsc) -> None:
    gw.handler.offer(*(FakeTicket(f"m{i}/0") for i in range(12)))
    first = submits_until_quiet(smsc)
    assert len(first) == 4
    throttled = {"session": "trx0", "kind": "throttled"}
    before = sample("smpp_gateway_session_congestion_total", throttled)
    throttled_at = time.monotonic()
    for header in first:
        smsc.answer(header, "", status=codec.ESME_RTHROTTLED)
    wait_for(lambda: gw.session.snapshot()["window"] == 2, timeout=STEP, what="window 4 -> 2")
    # paced at 0.9 x 40/s (4 written within 0.1 s), starting with no token: the next five
    # take at least 5/36 s
    for i in range(5):
        smsc.answer(smsc.expect(codec.SUBMIT_SM)[0], f"id-{i}")
    assert time.monotonic() - throttled_at > 0.12
    # (the pace grows 5% a second while it holds work back)
    assert gw.session.snapshot()["pace_per_second"] == pytest.approx(36, abs=2)
    assert sample("smpp_gateway_session_congestion_total", throttled) - before == 4


def test_a_response_timeout_drops_the_window_to_one_for_the_next_link(
    gw: Gateway, smsc: Smsc
) -> None:
    gw.handler.offer(*(FakeTicket(f"m{i}/0") for i in range(6)))
    assert len(submits_until_quiet(smsc)) == 4
    gw.clock.advance(RESPONSE_TIMEOUT + 1)
    smsc.wait_closed()
    peer = gw.connector.next()
    peer.accept_bind()
    gw.bound(2)
    assert len(submits_until_quiet(peer)) == 1  # slow start from one
    assert gw.session.snapshot()["window"] == 1


def test_a_session_that_does_not_answer_holds_no_more_than_its_window() -> None:
    """Two sessions on one queue: one SMSC never answers, the other answers at once; the
    silent one holds its window and the other sends everything else."""
    connector, handler, sink = Connector(), Handler(), Sink()
    section = smpp_section()
    sessions = [
        SmppSession(SessionSettings(name, "transceiver", section, None), handler, sink,
                    connect=connector)
        for name in ("trx0", "trx1")
    ]  # fmt: skip
    try:
        sessions[0].start()
        silent = connector.next()
        silent.accept_bind()
        wait_for(lambda: handler.binds() == 1, timeout=STEP, what="the first bind")
        handler.offer(*(FakeTicket(f"m{i}/0") for i in range(6)))
        assert len(submits_until_quiet(silent)) == 4  # its window, never answered
        sessions[1].start()
        fast = connector.next()
        fast.accept_bind()
        handler.offer(*(FakeTicket(f"m{i}/0") for i in range(6, 60)))
        answered = 0
        while not fast.quiet_for(0.3):
            header, _ = fast.expect(codec.SUBMIT_SM)
            fast.answer(header, f"id-{answered}")
            answered += 1
        assert answered == 56 and silent.quiet_for(0.1)  # the silent one took no more
    finally:
        for session in sessions:
            session.stop(0.0)
        connector.close()

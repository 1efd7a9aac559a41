"""One SMPP client connection, SMSC side: framing, dispatch and the submit_sm hot path.

An `asyncio.Protocol` rather than streams because the simulator must answer well
over 20k submit_sm/s on one core: each `data_received` chunk is framed in place
with `struct.unpack_from`, and every response it produces goes out in a single
`transport.write`. Hostile modes (hostile.py) cost the hot path one attribute test.

Every deliver_sm written is kept in `_unacked` until its deliver_sm_resp: when the
connection dies first, or no resp comes within --deliver-timeout, the `Smsc` sends it
again elsewhere, as a real SMSC does with receipts a crashed client never acknowledged.

submit_sm_resps held by --response-delay, --response-jitter or --pause wait in a heap
ordered by (due time, arrival number): with jitter a resp due earlier overtakes one due
later, as on a real SMSC; without it they leave in arrival order.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable

from gateway.simulator import hostile
from gateway.simulator.deliver import ReceiptJob
from gateway.simulator.pdu import (
    BIND_RECEIVER,
    BIND_TRANSCEIVER,
    BIND_TRANSMITTER,
    COMMAND_NAMES,
    DATA_SM,
    DELIVER_SM,
    ENQUIRE_LINK,
    ESME_RALYBND,
    ESME_RINVBNDSTS,
    ESME_RINVCMDID,
    ESME_RINVCMDLEN,
    GENERIC_NACK,
    HEADER,
    HEADER_LEN,
    MAX_PDU_LEN,
    RESP,
    SUBMIT_SM,
    TAG_SC_INTERFACE_VERSION,
    UNBIND,
    PduError,
    encode_tlvs,
    parse_bind,
    parse_sm,
    pdu,
    status_name,
)
from gateway.simulator.smsc import MODE_NAMES, RX, TRX, TX, Delivery, Smsc

SUBMIT_SM_RESP = SUBMIT_SM | RESP
BIND_MODES = {BIND_TRANSMITTER: TX, BIND_RECEIVER: RX, BIND_TRANSCEIVER: TRX}
BIND_RESP_BODY = b"smsc-sim\0" + encode_tlvs([(TAG_SC_INTERFACE_VERSION, b"\x34")])

Handler = Callable[[int, int, int, bytes], None]
# A submit_sm_resp held back: (due time, arrival number, PDU, its receipt job); the
# arrival number is unique, so heap comparisons never reach the PDU.
Held = tuple[float, int, bytes, ReceiptJob | None]


class SmppConnection(asyncio.Protocol):
    """SMSC side of one TCP connection; shared state lives in the `Smsc`."""

    def __init__(self, smsc: Smsc, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """`loop` gives the clock and the timers: the running loop unless one is given
        (unit tests pass a loop whose clock they move by hand)."""
        self._smsc = smsc
        self.conn_id = 0
        self.mode = 0
        self.system_id = ""
        self.transport: asyncio.Transport | None = None
        self._loop = loop
        self._rest = b""
        self._out: list[bytes] | None = None
        self._closing = False
        self._seq = 0
        self._submits = 0
        # submit_sm_resps held by --response-delay/--response-jitter/--pause (a heap)
        self._pending: list[Held] = []
        self._arrivals = 0  # numbers the held resps: breaks ties of due time in order
        self._latest_due = float("-inf")  # the latest due time ever held
        self._release_timer: asyncio.TimerHandle | None = None
        self._enquire_timer: asyncio.TimerHandle | None = None
        # deliver_sm written and not yet answered, oldest first: seq -> (delivery, sent at)
        self._unacked: dict[int, tuple[Delivery, float]] = {}
        self._deliver_timer: asyncio.TimerHandle | None = None
        self._trickle: bytearray | None = None  # hostile "slow": bytes not yet written
        self._trickle_timer: asyncio.TimerHandle | None = None
        self._unbind_timer: asyncio.TimerHandle | None = None
        self._unbinding = False
        self._handlers: dict[int, Handler] = {
            BIND_TRANSMITTER: self._on_bind,
            BIND_RECEIVER: self._on_bind,
            BIND_TRANSCEIVER: self._on_bind,
            UNBIND: self._on_unbind,
            ENQUIRE_LINK: self._on_enquire_link,
            DELIVER_SM | RESP: self._on_deliver_sm_resp,
            ENQUIRE_LINK | RESP: self._on_counted_resp,
            DATA_SM | RESP: self._on_counted_resp,
            UNBIND | RESP: self._on_unbind_resp,
            GENERIC_NACK: self._on_counted_resp,
        }

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.conn_id = self._smsc.add_connection(self)
        peer = transport.get_extra_info("peername")
        self._smsc.event(f"conn {self.conn_id} open from {peer}")

    def connection_lost(self, exc: Exception | None) -> None:
        timers = (self._release_timer, self._enquire_timer, self._deliver_timer)
        for timer in (*timers, self._trickle_timer, self._unbind_timer):
            if timer is not None:
                timer.cancel()
        self._trickle = None
        self._smsc.remove_connection(self)
        # Those messages were accepted even though their resp never left: the
        # handset still gets them, so their receipts still come (on another bind).
        for _due, _arrival, _resp, job in sorted(self._pending):
            if job is not None:
                self._smsc.schedule_receipt(job)
        self._pending.clear()
        # Written but never acknowledged: the client may not have them; deliver again.
        for delivery, _sent in self._unacked.values():
            self._smsc.redeliver(delivery, "connection_lost")
        self._unacked.clear()
        reason = f": {exc}" if exc else ""
        self._smsc.event(f"conn {self.conn_id} closed after {self._submits} submits{reason}")

    def data_received(self, data: bytes) -> None:
        """Frame every whole PDU in the chunk; answer them all in one write."""
        if self._rest:
            data = self._rest + data
        out: list[bytes] = []
        self._out = out
        log = self._smsc.log
        unpack = HEADER.unpack_from
        size = len(data)
        off = 0
        try:
            while size - off >= HEADER_LEN and not self._closing:
                length, command, status, seq = unpack(data, off)
                if length < HEADER_LEN or length > MAX_PDU_LEN:
                    self._bad_length(seq, length)
                    break
                end = off + length
                if end > size:
                    break
                if log is not None:
                    log.record("in", self.conn_id, data[off:end])
                if command == SUBMIT_SM:
                    self._on_submit(seq, data[off + HEADER_LEN : end])
                else:
                    self._dispatch(command, status, seq, data[off + HEADER_LEN : end])
                off = end
        finally:
            self._out = None
        self._rest = data[off:] if off < size else b""
        self._flush(out)

    # -- output ----------------------------------------------------------------

    def _emit(self, data: bytes) -> None:
        """Queue a PDU into the current batch, or write it now outside of one."""
        log = self._smsc.log
        if log is not None:
            log.record("out", self.conn_id, data)
        if self._out is not None:
            self._out.append(data)
        else:
            self._write(data)

    def _flush(self, out: list[bytes]) -> None:
        if out:
            self._write(b"".join(out))
        if self._closing and self._trickle is None:
            self.close()

    def _write(self, data: bytes) -> None:
        """The only transport.write; in hostile "slow" mode the bytes go to the trickle."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._trickle is None and not self._smsc.slow:
            transport.write(data)
            return
        if self._trickle is None:
            self._trickle = bytearray()
        self._trickle += data
        if self._trickle_timer is None:
            self._trickle_step()

    def _trickle_step(self) -> None:
        """Write one byte, then wait --slow-byte-interval; all the rest once slow is off."""
        self._trickle_timer = None
        buffer, transport = self._trickle, self.transport
        if buffer is None or transport is None or transport.is_closing():
            self._trickle = None
            return
        if not self._smsc.slow:
            transport.write(bytes(buffer))
            del buffer[:]
        else:
            transport.write(bytes(buffer[:1]))
            del buffer[:1]
            self._smsc.stats.slow_bytes += 1
        if buffer:
            assert self._loop is not None
            interval = self._smsc.cfg.slow_byte_interval
            self._trickle_timer = self._loop.call_later(interval, self._trickle_step)
            return
        self._trickle = None
        if self._closing:
            self.close()

    def release_trickle(self) -> None:
        """Hostile "slow" ended: write what it still held now, not at the next tick."""
        if self._trickle_timer is not None:
            self._trickle_timer.cancel()
            self._trickle_step()

    def send_pdu(self, command: int, body: bytes) -> int:
        """Send a simulator-originated request (deliver_sm, enquire_link); returns its seq."""
        seq = self._next_seq()
        self._emit(pdu(command, 0, seq, body))
        return seq

    def _next_seq(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def send_delivery(self, delivery: Delivery) -> None:
        """deliver_sm, remembered until answered (see the module docstring)."""
        seq = self.send_pdu(DELIVER_SM, delivery.body)
        assert self._loop is not None
        self._unacked[seq] = (delivery, self._loop.time())
        if self._deliver_timer is None:
            self._arm_deliver_timer()

    def _arm_deliver_timer(self) -> None:
        timeout = self._smsc.cfg.deliver_timeout
        if timeout <= 0 or not self._unacked or self._loop is None:
            return
        _delivery, oldest = next(iter(self._unacked.values()))
        self._deliver_timer = self._loop.call_at(oldest + timeout, self._deliver_timeouts)

    def _deliver_timeouts(self) -> None:
        """Deliveries unanswered for --deliver-timeout go out again (the late resp is ignored)."""
        self._deliver_timer = None
        timeout = self._smsc.cfg.deliver_timeout
        if timeout <= 0 or self._loop is None:
            return
        limit = self._loop.time() - timeout
        for seq, (delivery, sent) in list(self._unacked.items()):
            if sent > limit:
                break
            del self._unacked[seq]
            self._smsc.redeliver(delivery, "timeout")
        self._arm_deliver_timer()

    @property
    def unacked_deliveries(self) -> int:
        return len(self._unacked)

    def close(self) -> None:
        """Close now (any hostile "slow" backlog is dropped with the connection)."""
        if self.transport is not None:
            self.transport.close()

    # -- submit_sm -------------------------------------------------------------

    def _on_submit(self, seq: int, body: bytes) -> None:
        smsc = self._smsc
        if not self.mode & TX:
            smsc.stats.rejected += 1
            self._emit(HEADER.pack(HEADER_LEN, SUBMIT_SM_RESP, ESME_RINVBNDSTS, seq))
            return
        self._submits += 1
        close_after = smsc.cfg.close_after
        if close_after and self._submits >= close_after:
            smsc.stats.dropped += 1
            self._closing = True
            smsc.event(f"conn {self.conn_id} dropping after submit_sm #{self._submits}")
            return
        status = smsc.submit_fault(self._now()) if smsc.faults else 0
        if not status:
            try:
                sm = parse_sm(body)
            except PduError:
                smsc.stats.rejected += 1
                status = ESME_RINVCMDLEN
        if status:
            self._respond(HEADER.pack(HEADER_LEN, SUBMIT_SM_RESP, status, seq), None)
            return
        message_id, job = smsc.accept(self, seq, sm, body)
        encoded = message_id.encode()
        resp = HEADER.pack(HEADER_LEN + 1 + len(encoded), SUBMIT_SM_RESP, 0, seq) + encoded + b"\0"
        if job is not None and smsc.cfg.receipt_before_resp:
            smsc.send_receipt(job)
            job = None
        if smsc.hostile:
            self._hostile_respond(seq, resp, job)
        else:
            self._respond(resp, job)

    def _hostile_respond(self, seq: int, resp: bytes, job: ReceiptJob | None) -> None:
        """The submit was accepted; what goes back depends on the mode (hostile.py)."""
        smsc = self._smsc
        mode = smsc.hostile_fire()
        if mode == "truncate_close":
            self._emit(hostile.corrupt(mode, resp))
            if job is not None:
                smsc.schedule_receipt(job)
            self._closing = True
            return
        if mode in hostile.CUT_MODES:
            resp = hostile.corrupt(mode, resp)
        elif mode in hostile.EXTRA_MODES:
            for extra in hostile.extras(mode, seq, self._next_seq):
                self._emit(extra)
        elif mode == "garbage_receipt":
            smsc.send_garbage(self.system_id)
        self._respond(resp, job)
        if mode == "unbind":
            self._start_unbind()

    def _start_unbind(self) -> None:
        """SMSC-side unbind: no more submits or deliveries here; close on unbind_resp."""
        smsc = self._smsc
        self.send_pdu(UNBIND, b"")
        smsc.unbound(self)
        self.mode = 0
        self._unbinding = True
        smsc.event(f"conn {self.conn_id} hostile unbind sent")
        assert self._loop is not None
        self._unbind_timer = self._loop.call_later(hostile.UNBIND_GRACE, self.close)

    def _respond(self, resp: bytes, job: ReceiptJob | None) -> None:
        """Send a submit_sm_resp now, or hold it for --response-delay/-jitter or --pause."""
        smsc = self._smsc
        cfg = smsc.cfg
        if not (cfg.paused or cfg.response_delay > 0 or cfg.response_jitter > 0 or self._pending):
            self._emit(resp)
            if job is not None:
                smsc.schedule_receipt(job)
            return
        due = self._now() + smsc.response_hold()
        if not cfg.response_jitter > 0:  # no jitter, no overtaking: FIFO, as before
            due = max(due, self._latest_due)
        self._latest_due = max(due, self._latest_due)
        self._arrivals += 1
        heapq.heappush(self._pending, (due, self._arrivals, resp, job))
        if not cfg.paused:
            self._arm_release()

    def _now(self) -> float:
        """The loop's monotonic clock (connected: connection_made has set the loop)."""
        assert self._loop is not None
        return self._loop.time()

    def _arm_release(self) -> None:
        """Time the release for the earliest held resp (a new one may be due sooner)."""
        assert self._loop is not None
        due = self._pending[0][0]
        timer = self._release_timer
        if timer is not None:
            if timer.when() <= due:
                return
            timer.cancel()
        self._release_timer = self._loop.call_at(due, self._release_due)

    def _release_due(self) -> None:
        """Write every held resp whose time has come, earliest first; receipts start then."""
        self._release_timer = None
        if self._smsc.cfg.paused or self._loop is None:
            return
        now = self._loop.time()
        pending = self._pending
        out: list[bytes] = []
        jobs: list[ReceiptJob] = []
        self._out = out
        try:
            while pending and pending[0][0] <= now:
                _due, _arrival, resp, job = heapq.heappop(pending)
                self._emit(resp)
                if job is not None:
                    jobs.append(job)
        finally:
            self._out = None
        self._flush(out)
        for job in jobs:
            self._smsc.schedule_receipt(job)
        if pending:
            self._arm_release()

    def flush_held(self) -> None:
        """Called on resume: release what is due now and re-arm for the rest."""
        if self._pending and self._release_timer is None:
            self._release_due()

    @property
    def pending_responses(self) -> int:
        return len(self._pending)

    # -- other commands --------------------------------------------------------

    def _dispatch(self, command: int, status: int, seq: int, body: bytes) -> None:
        handler = self._handlers.get(command)
        if handler is None:
            self._nack(seq, ESME_RINVCMDID)
        else:
            handler(command, status, seq, body)

    def _nack(self, seq: int, status: int) -> None:
        self._smsc.stats.generic_nack += 1
        self._emit(pdu(GENERIC_NACK, status, seq))

    def _bad_length(self, seq: int, length: int) -> None:
        self._nack(seq, ESME_RINVCMDLEN)
        self._closing = True
        self._smsc.event(f"conn {self.conn_id} bad command_length {length}, closing")

    def _on_bind(self, command: int, _status: int, seq: int, body: bytes) -> None:
        smsc = self._smsc
        name = COMMAND_NAMES[command]
        try:
            fields = parse_bind(body)
        except PduError:
            self._emit(pdu(command | RESP, ESME_RINVCMDLEN, seq))
            return
        system_id = fields["system_id"]
        status = ESME_RALYBND if self.mode else smsc.check_bind(system_id, fields["password"])
        if status:
            self._emit(pdu(command | RESP, status, seq))
            smsc.event(f"conn {self.conn_id} {name} {system_id!r} refused {status_name(status)}")
            return
        self.mode = BIND_MODES[command]
        self.system_id = system_id
        self._emit(pdu(command | RESP, 0, seq, BIND_RESP_BODY))
        smsc.event(f"conn {self.conn_id} bound {MODE_NAMES[self.mode]} {system_id!r}")
        smsc.bound(self)
        self.reschedule_enquire()

    def _on_unbind(self, _command: int, _status: int, seq: int, _body: bytes) -> None:
        smsc = self._smsc
        smsc.stats.unbind += 1
        if not self.mode:
            self._emit(pdu(UNBIND | RESP, ESME_RINVBNDSTS, seq))
            return
        self._emit(pdu(UNBIND | RESP, 0, seq))
        smsc.unbound(self)
        self.mode = 0
        self._closing = True
        smsc.event(f"conn {self.conn_id} unbound")

    def _on_enquire_link(self, _command: int, _status: int, seq: int, _body: bytes) -> None:
        if not self.mode:
            self._emit(pdu(ENQUIRE_LINK | RESP, ESME_RINVBNDSTS, seq))
            return
        self._smsc.stats.enquire_link += 1
        self._emit(pdu(ENQUIRE_LINK | RESP, 0, seq))

    def _on_deliver_sm_resp(self, _command: int, status: int, seq: int, _body: bytes) -> None:
        smsc = self._smsc
        stats = smsc.stats
        name = status_name(status)
        stats.deliver_sm_resp[name] = stats.deliver_sm_resp.get(name, 0) + 1
        if smsc.cfg.ignore_deliver_resp:
            stats.deliver_resp_ignored += 1
            return
        entry = self._unacked.pop(seq, None)
        if entry is None:  # never sent, or answered after --deliver-timeout re-sent it
            stats.deliver_resp_unknown += 1
            return
        smsc.delivery_answered(entry[0], status)

    def _on_unbind_resp(self, _command: int, _status: int, _seq: int, _body: bytes) -> None:
        self._smsc.stats.unbind_resp += 1
        if self._unbinding:  # our hostile unbind was answered: hang up
            self._closing = True

    def _on_counted_resp(self, command: int, _status: int, _seq: int, _body: bytes) -> None:
        stats = self._smsc.stats
        if command == ENQUIRE_LINK | RESP:
            stats.enquire_link_resp += 1
        elif command == DATA_SM | RESP:
            stats.data_sm_resp += 1
        elif command == GENERIC_NACK:
            stats.generic_nack_received += 1

    # -- simulator-originated enquire_link --------------------------------------

    def reschedule_enquire(self) -> None:
        """(Re)start the --enquire-interval timer; a no-op when the interval is 0."""
        if self._enquire_timer is not None:
            self._enquire_timer.cancel()
            self._enquire_timer = None
        interval = self._smsc.cfg.enquire_interval
        if interval > 0 and self.mode and not self._closing and self._loop is not None:
            self._enquire_timer = self._loop.call_later(interval, self._send_enquire_link)

    def _send_enquire_link(self) -> None:
        self._enquire_timer = None
        self.send_pdu(ENQUIRE_LINK, b"")
        self._smsc.stats.enquire_link_sent += 1
        self.reschedule_enquire()

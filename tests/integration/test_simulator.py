"""The bundled SMSC simulator, driven as a real subprocess over real sockets.

Two kinds of client on purpose: smpplib (the library the gateway itself uses, so
its parsing of our PDUs is what matters) and a tiny raw-socket client for what
smpplib will not send (pipelined windows, unknown commands, bad lengths).
"""

from __future__ import annotations

import json
import re
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp

from gateway.testing.simulator import SimulatorError, SimulatorProcess

pytestmark = pytest.mark.integration

HEADER = struct.Struct("!IIII")
SUBMIT_SM, SUBMIT_SM_RESP = 0x00000004, 0x80000004
DELIVER_SM = 0x00000005
GENERIC_NACK = 0x80000000
BIND_TRANSCEIVER, BIND_RECEIVER = 0x00000009, 0x00000001
ENQUIRE_LINK = 0x00000015
SRC, DST = "41790000001", "41790000002"
RECEIPT = re.compile(
    r"id:(?P<id>\w+) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} done date:\d{10}"
    r" stat:(?P<stat>\w{7}) err:(?P<err>\d{3}) text:(?P<text>.*)$"
)


class RawClient:
    """Raw-socket SMPP client: send anything, read whole PDUs with a deadline."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.seq = 0

    def close(self) -> None:
        self.sock.close()

    def send(self, command: int, body: bytes = b"", length: int | None = None) -> int:
        self.seq += 1
        size = 16 + len(body) if length is None else length
        self.sock.sendall(HEADER.pack(size, command, 0, self.seq) + body)
        return self.seq

    def read(self) -> tuple[int, int, int, bytes]:
        length, command, status, seq = HEADER.unpack(self._exact(16))
        return command, status, seq, self._exact(length - 16)

    def _exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("closed by simulator")
            data += chunk
        return data

    def at_eof(self) -> bool:
        """True once the simulator has closed the connection (blocks up to the timeout)."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def bind(self, password: str = "password", command: int = BIND_TRANSCEIVER) -> int:
        body = b"smppclient\0" + password.encode() + b"\0\0\x34\x00\x00\0"
        self.send(command, body)
        return self.read()[1]

    def submit(self, text: bytes = b"hello", registered_delivery: int = 0, esm: int = 0) -> int:
        body = (
            b"\0\x01\x01" + SRC.encode() + b"\0\x01\x01" + DST.encode() + b"\0"
            + bytes((esm, 0, 0)) + b"\0\0" + bytes((registered_delivery, 0, 0, 0, len(text)))
            + text + b"\x04\x24\x00\x00"
        )  # fmt: skip
        return self.send(SUBMIT_SM, body)


@pytest.fixture
def sim() -> Iterator[SimulatorProcess]:
    with SimulatorProcess(first_id=1000000, no_receipts=True) as process:
        yield process


@pytest.fixture
def raw(sim: SimulatorProcess) -> Iterator[RawClient]:
    client = RawClient(sim.port)
    yield client
    client.close()


def smpp_client(sim: SimulatorProcess, mode: str = "transceiver") -> smpplib.client.Client:
    client = smpplib.client.Client("127.0.0.1", sim.port, timeout=5, allow_unknown_opt_params=True)
    client.connect()
    getattr(client, f"bind_{mode}")(system_id="smppclient", password="password")
    return client


def send_sm(client: smpplib.client.Client, text: bytes, registered_delivery: int = 0) -> bytes:
    """submit_sm via smpplib; returns the message id from its submit_sm_resp."""
    client.send_message(
        source_addr_ton=1, source_addr_npi=1, source_addr=SRC,
        dest_addr_ton=1, dest_addr_npi=1, destination_addr=DST,
        short_message=text, registered_delivery=registered_delivery,
    )  # fmt: skip
    resp = client.read_pdu()
    assert resp.command == "submit_sm_resp" and resp.status == 0
    return resp.message_id


def ack(client: smpplib.client.Client, pdu: smpplib.command.Command) -> None:
    client.send_pdu(smpplib.smpp.make_pdu("deliver_sm_resp", client=client, sequence=pdu.sequence))


def test_bind_and_wrong_credentials(sim: SimulatorProcess) -> None:
    client = smpp_client(sim)
    client.disconnect()
    bad = smpplib.client.Client("127.0.0.1", sim.port, timeout=5, allow_unknown_opt_params=True)
    bad.connect()
    with pytest.raises(smpplib.exceptions.PDUError) as info:
        bad.bind_transmitter(system_id="smppclient", password="wrong")
    assert info.value.args[1] == 0x0E
    bad.disconnect()
    raw = RawClient(sim.port)
    raw.send(BIND_TRANSCEIVER, b"nobody\0password\0\0\x34\x00\x00\0")
    assert raw.read()[:2] == (BIND_TRANSCEIVER | 0x80000000, 0x0F)
    raw.close()
    stats = sim.wait_for(lambda s: s["connections"] == 0)
    assert stats["binds"] == 1 and stats["bind_failed"] == 2


def test_max_sessions() -> None:
    with SimulatorProcess(max_sessions=2) as sim:
        clients = [RawClient(sim.port) for _ in range(3)]
        assert [c.bind() for c in clients] == [0, 0, 0x0D]
        assert sim.stats()["bound_sessions"] == 2


def test_submit_ids_enquire_and_unbind(sim: SimulatorProcess) -> None:
    first, second = smpp_client(sim), smpp_client(sim)
    ids = [send_sm(first, b"one"), send_sm(second, b"two"), send_sm(first, b"three")]
    assert ids == [b"1000000", b"1000001", b"1000002"]
    first.send_pdu(smpplib.smpp.make_pdu("enquire_link", client=first))
    assert first.read_pdu().command == "enquire_link_resp"
    assert first.unbind().command == "unbind_resp"
    with pytest.raises(smpplib.exceptions.ConnectionError):
        first.read_pdu()
    second.disconnect()
    stats = sim.wait_for(lambda s: s["connections"] == 0)
    assert (stats["submit_sm"], stats["enquire_link"], stats["unbind"]) == (3, 1, 1)
    records = sim.submits()
    assert [r["message_id"] for r in records] == ["1000000", "1000001", "1000002"]
    assert records[1]["short_message"] == b"two".hex()
    assert records[1]["destination_addr"] == DST and records[1]["dest_addr_ton"] == 1
    assert sim.request("GET", "/submits?since=2")["next"] == 3


def test_state_errors_unknown_command_and_bad_length(raw: RawClient) -> None:
    raw.submit()
    assert raw.read()[:2] == (SUBMIT_SM_RESP, 0x04)
    assert raw.bind() == 0
    seq = raw.send(0x00000999)
    assert raw.read()[:3] == (GENERIC_NACK, 0x03, seq)
    seq = raw.send(SUBMIT_SM, length=8)
    assert raw.read()[:3] == (GENERIC_NACK, 0x02, seq)
    assert raw.at_eof()


def pipeline(raw: RawClient, count: int) -> list[int]:
    for _ in range(count):
        raw.submit()
    return [raw.read()[1] for _ in range(count)]


def test_throttle_and_fail_every(sim: SimulatorProcess, raw: RawClient) -> None:
    raw.bind()
    sim.config(throttle_every=3)
    assert pipeline(raw, 6) == [0, 0, 0x58, 0, 0, 0x58]
    sim.config(throttle_every=0, fail_every=2, fail_status="0x45")
    assert pipeline(raw, 2) == [0, 0x45]
    stats = sim.stats()
    assert (stats["submit_sm"], stats["throttled"], stats["failed"]) == (5, 2, 1)


def test_response_delay_keeps_order(sim: SimulatorProcess, raw: RawClient) -> None:
    raw.bind()
    sim.config(response_delay=0.05)
    seqs = [raw.submit() for _ in range(5)]
    assert [raw.read()[1:3] for _ in range(5)] == [(0, s) for s in seqs]


def by_seq(raw: RawClient, count: int) -> list[int]:
    """Like `pipeline`, for answers that may come in any order: statuses in submit order."""
    seqs = [raw.submit() for _ in range(count)]
    answers = {seq: status for _command, status, seq, _body in (raw.read() for _ in seqs)}
    return [answers[seq] for seq in seqs]


def test_throttle_rate_is_account_wide_with_jittered_answers() -> None:
    """2/s holds one token (refilled in 0.5 s, longer than this test's steps take)."""
    with SimulatorProcess(throttle_rate=2, response_jitter=0.05, no_receipts=True) as sim:
        one, two = RawClient(sim.port), RawClient(sim.port)
        assert (one.bind(), two.bind()) == (0, 0)
        assert by_seq(one, 6) == [0] + [0x58] * 5
        assert by_seq(two, 2) == [0x58, 0x58]  # the same account: no token left
        sim.config(throttle_rate=2)  # set again: the bucket is full again
        assert by_seq(two, 2) == [0, 0x58]
        sim.config(throttle_rate=0)
        assert by_seq(one, 4) == [0] * 4
        stats = sim.stats()
        assert (stats["submit_sm"], stats["throttled"], stats["held_responses"]) == (6, 8, 0)


def test_close_after_drops_mid_window() -> None:
    with SimulatorProcess(close_after=3) as sim:
        raw = RawClient(sim.port)
        raw.bind()
        for _ in range(5):
            raw.submit()
        assert [raw.read()[1] for _ in range(2)] == [0, 0]
        assert raw.at_eof()
        again = RawClient(sim.port)
        again.bind()
        assert pipeline(again, 2) == [0, 0]
        stats = sim.stats()
        assert (stats["submit_sm"], stats["dropped"]) == (4, 1)


def test_pause_holds_responses_until_resume(sim: SimulatorProcess, raw: RawClient) -> None:
    raw.bind()
    sim.pause()
    seqs = [raw.submit() for _ in range(3)]
    sim.wait_for(lambda s: s["held_responses"] == 3)
    raw.sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        raw.sock.recv(1)
    raw.sock.settimeout(5)
    sim.resume()
    got = [raw.read() for _ in range(3)]
    assert [(p[0], p[1], p[2]) for p in got] == [(SUBMIT_SM_RESP, 0, s) for s in seqs]
    assert [p[3] for p in got] == [b"1000000\0", b"1000001\0", b"1000002\0"]


def test_receipt_text_and_tlvs() -> None:
    with SimulatorProcess(first_id=1000000, receipt_delay=0) as sim:
        client = smpp_client(sim)
        message_id = send_sm(client, b"Hello receipt world, and more", registered_delivery=1)
        dlr = client.read_pdu()
        ack(client, dlr)
        assert dlr.command == "deliver_sm" and dlr.esm_class == 0x04
        fields = RECEIPT.match(dlr.short_message.decode()).groupdict()
        assert fields == {
            "id": "1000000", "dlvrd": "001", "stat": "DELIVRD", "err": "000",
            "text": "Hello receipt world,",
        }  # fmt: skip
        assert dlr.receipted_message_id == message_id
        assert dlr.message_state == 2 and dlr.network_error_code is None
        assert (dlr.source_addr, dlr.destination_addr) == (DST.encode(), SRC.encode())
        stats = sim.wait_for(lambda s: s["deliver_sm_resp"].get("ESME_ROK") == 1)
        assert stats["receipts_pending"] == 0 and stats["deliver_sm_sent"] == 1


def test_receipt_id_formats_and_states() -> None:
    options = {"first_id": 1000123, "receipt_delay": 0, "receipt_states": "UNDELIV=1"}
    with SimulatorProcess(receipt_id_format="hex", **options) as sim:
        client = smpp_client(sim)
        assert send_sm(client, b"x", registered_delivery=1) == b"1000123"
        dlr = client.read_pdu()
        fields = RECEIPT.match(dlr.short_message.decode()).groupdict()
        assert (fields["id"], fields["stat"], fields["err"], fields["dlvrd"]) == (
            "f42bb", "UNDELIV", "001", "000",
        )  # fmt: skip
        assert dlr.receipted_message_id == b"f42bb" and dlr.message_state == 5
        assert dlr.network_error_code == b"\x03\x00\x01"
        sim.config(id_format="hex", receipt_id_format="dec", receipt_states="DELIVRD=1")
        assert send_sm(client, b"y", registered_delivery=1) == b"f42bc"
        dlr = client.read_pdu()
        assert dlr.short_message.startswith(b"id:1000124 ") and dlr.message_state == 2


def test_receipt_before_resp() -> None:
    with SimulatorProcess(receipt_delay=0, receipt_before_resp=True) as sim:
        client = smpp_client(sim)
        client.send_message(source_addr=SRC, destination_addr=DST, short_message=b"r",
                            registered_delivery=1)  # fmt: skip
        first, second = client.read_pdu(), client.read_pdu()
        assert (first.command, second.command) == ("deliver_sm", "submit_sm_resp")
        assert first.receipted_message_id == second.message_id


def test_receipt_waits_for_a_receiver_bind() -> None:
    with SimulatorProcess(receipt_delay=0) as sim:
        sender = RawClient(sim.port)
        sender.bind(command=0x00000002)
        sender.submit(registered_delivery=1)
        assert sender.read()[1] == 0
        sim.wait_for(lambda s: s["queued_deliveries"] == 1 and s["receipts_pending"] == 1)
        receiver = smpp_client(sim, "receiver")
        assert receiver.read_pdu().command == "deliver_sm"
        assert sim.stats()["receipts_pending"] == 0


def test_mo_single_and_two_part_ucs2(sim: SimulatorProcess) -> None:
    client = smpp_client(sim, "receiver")
    assert sim.mo(source=SRC, destination="4000", text="hello") == {"sent": 1, "queued": 0}
    single = client.read_pdu()
    assert (single.esm_class, single.data_coding, single.short_message) == (0, 0, b"hello")
    text = "Привет мир! " * 8  # 96 UCS-2 characters: two parts
    assert sim.mo(source=SRC, destination="4000", text=text)["sent"] == 2
    parts = [client.read_pdu() for _ in range(2)]
    udhs = [p.short_message[:6] for p in parts]
    assert all(p.esm_class == 0x40 and p.data_coding == 8 for p in parts)
    assert udhs[0][:3] == b"\x05\x00\x03" and udhs[0][3] == udhs[1][3]
    assert [u[4:] for u in udhs] == [b"\x02\x01", b"\x02\x02"]
    assert b"".join(p.short_message[6:] for p in parts).decode("utf-16-be") == text
    assert sim.stats()["mo_sent"] == 3


def test_simulator_sends_enquire_link() -> None:
    with SimulatorProcess(enquire_interval=0.05) as sim:
        raw = RawClient(sim.port)
        raw.bind()
        command, _status, seq, _body = raw.read()
        assert command == ENQUIRE_LINK
        raw.sock.sendall(HEADER.pack(16, ENQUIRE_LINK | 0x80000000, 0, seq))
        sim.wait_for(lambda s: s["enquire_link_resp"] >= 1)


def test_refuse_binds_disconnect_and_reset(sim: SimulatorProcess, raw: RawClient) -> None:
    with pytest.raises(SimulatorError, match="400"):
        sim.config(bogus=1)
    sim.config(refuse_binds_for=60)
    assert raw.bind() == 0x0D
    sim.config(refuse_binds_for=0)
    assert raw.bind() == 0
    assert pipeline(raw, 1) == [0]
    assert sim.disconnect() == 1
    assert raw.at_eof()
    sim.reset()
    stats = sim.stats()
    assert (stats["submit_sm"], stats["binds"], sim.submits()) == (0, 0, [])


def test_pdu_log_lines(tmp_path: Path) -> None:
    log = tmp_path / "pdus.jsonl"
    with SimulatorProcess(pdu_log=log, first_id=7) as sim:
        raw = RawClient(sim.port)
        raw.bind()
        raw.submit(b"\x05\x00\x03\x01\x02\x01abc", esm=0x40)
        assert raw.read()[1] == 0
        assert sim.stop() == 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    submit = next(e for e in entries if e["command"] == "submit_sm")
    assert submit["dir"] == "in" and submit["conn"] == 1 and submit["registered_delivery"] == 0
    assert submit["esm_class"] == 0x40 and submit["udh"] == "050003010201"
    assert submit["short_message"] == "050003010201616263"
    assert submit["source_addr"] == SRC and submit["tlvs"] == {"0x0424": ""}
    resp = next(e for e in entries if e["command"] == "submit_sm_resp")
    assert resp["dir"] == "out" and resp["message_id"] == "7" and resp["seq"] == submit["seq"]


# -- deliveries are kept until acknowledged, as a real SMSC keeps them -----------------------

DELIVER_SM_RESP = DELIVER_SM | 0x80000000


def answer(raw: RawClient, seq: int, status: int = 0) -> None:
    raw.sock.sendall(HEADER.pack(17, DELIVER_SM_RESP, status, seq) + b"\0")


def read_deliver(raw: RawClient) -> tuple[int, bytes]:
    command, _status, seq, body = raw.read()
    assert command == DELIVER_SM
    return seq, body


def submit_and_read(raw: RawClient, count: int) -> list[tuple[int, bytes]]:
    """Submit `count` with receipts; the deliver_sm (seq, body) that come with their resps."""
    for _ in range(count):
        raw.submit(registered_delivery=1)
    pdus = [raw.read() for _ in range(2 * count)]
    assert sorted(p[:2] for p in pdus if p[0] != DELIVER_SM) == [(SUBMIT_SM_RESP, 0)] * count
    return [(p[2], p[3]) for p in pdus if p[0] == DELIVER_SM]


def test_unacknowledged_receipt_and_mo_are_sent_again_on_the_next_bind() -> None:
    with SimulatorProcess(receipt_delay=0, redeliver_delay=0.05) as sim:
        first = RawClient(sim.port)
        first.bind()
        first.submit(registered_delivery=1)
        assert first.read()[:2] == (SUBMIT_SM_RESP, 0)
        _seq, receipt = read_deliver(first)
        sim.mo(source=SRC, destination="4000", text="inbound")
        _seq, mo = read_deliver(first)
        first.close()  # a crash: neither deliver_sm was answered
        stats = sim.wait_for(lambda s: s["deliver_retry_waiting"] + s["queued_deliveries"] == 2)
        assert stats["deliver_requeued"] == {"connection_lost": 2}
        second = RawClient(sim.port)
        second.bind(command=BIND_RECEIVER)
        again = [read_deliver(second) for _ in range(2)]
        assert sorted(body for _seq, body in again) == sorted([receipt, mo])
        for seq, _body in again:
            answer(second, seq)
        stats = sim.wait_deliveries_settled()
        assert (stats["deliver_resent"], stats["receipts_sent"], stats["mo_sent"]) == (2, 1, 1)
        assert stats["deliver_sm_resp"] == {"ESME_ROK": 2}


def test_temporary_error_is_retried_and_permanent_error_dropped() -> None:
    with SimulatorProcess(receipt_delay=0, redeliver_delay=0.05) as sim:
        raw = RawClient(sim.port)
        raw.bind()
        (seq_a, body_a), (seq_b, _body_b) = submit_and_read(raw, 2)
        answer(raw, seq_a, 0x64)  # ESME_RX_T_APPN: try again later
        answer(raw, seq_b, 0x65)  # ESME_RX_P_APPN: never again
        seq_again, body_again = read_deliver(raw)
        assert body_again == body_a and seq_again not in (seq_a, seq_b)
        answer(raw, seq_again)
        stats = sim.wait_deliveries_settled()
        assert stats["deliver_requeued"] == {"ESME_RX_T_APPN": 1}
        assert (stats["deliver_resent"], stats["deliver_dropped"]) == (1, 1)


def test_deliver_timeout_sends_again_and_the_late_resp_is_ignored() -> None:
    with SimulatorProcess(receipt_delay=0, redeliver_delay=0, deliver_timeout=0.2) as sim:
        raw = RawClient(sim.port)
        raw.bind()
        raw.submit(registered_delivery=1)
        assert raw.read()[:2] == (SUBMIT_SM_RESP, 0)
        seq, body = read_deliver(raw)
        seq_again, body_again = read_deliver(raw)  # nothing answered for 0.2 s
        assert body_again == body and seq_again != seq
        answer(raw, seq)  # too late: that one was given up
        answer(raw, seq_again)
        stats = sim.wait_for(lambda s: s["deliver_resp_unknown"] == 1 and s["deliver_unacked"] == 0)
        assert stats["deliver_requeued"] == {"timeout": 1} and stats["deliver_resent"] == 1


def test_ignore_deliver_resp_keeps_deliveries_unacknowledged() -> None:
    with SimulatorProcess(receipt_delay=0, ignore_deliver_resp=True) as sim:
        raw = RawClient(sim.port)
        raw.bind()
        raw.submit(registered_delivery=1)
        assert raw.read()[:2] == (SUBMIT_SM_RESP, 0)
        seq, _body = read_deliver(raw)
        answer(raw, seq)
        stats = sim.wait_for(lambda s: s["deliver_resp_ignored"] == 1)
        assert stats["deliver_unacked"] == 1 and stats["deliver_sm_resp"] == {"ESME_ROK": 1}
        sim.config(ignore_deliver_resp=False)
        raw.close()
        sim.wait_for(lambda s: s["deliver_requeued"] == {"connection_lost": 1})


# -- hostile modes: what a broken SMSC writes ------------------------------------------------


def read_bytes(raw: RawClient, size: int) -> bytes:
    return raw._exact(size)


@pytest.mark.parametrize(
    ("mode", "expected_length"), [("length_huge", 0xFFFFFFFF), ("length_small", 8)]
)
def test_hostile_absurd_command_length(sim: SimulatorProcess, mode: str, expected_length: int):
    raw = RawClient(sim.port)
    raw.bind()
    sim.hostile(mode, every=2)
    assert pipeline(raw, 1) == [0]  # the first submit is answered normally
    seq = raw.submit()
    length, command, status, got_seq = HEADER.unpack(read_bytes(raw, 16))
    assert (length, command, status, got_seq) == (expected_length, SUBMIT_SM_RESP, 0, seq)
    assert read_bytes(raw, 8) == b"1000001\0"  # the real body follows the wrong length
    assert sim.stats()["hostile"] == {mode: 1} and sim.stats()["submit_sm"] == 2


@pytest.mark.parametrize("mode", ["truncate", "truncate_close"])
def test_hostile_truncated_response(sim: SimulatorProcess, mode: str) -> None:
    raw = RawClient(sim.port)
    raw.bind()
    sim.hostile(mode)
    seq = raw.submit()
    assert HEADER.unpack(read_bytes(raw, 16)) == (24, SUBMIT_SM_RESP, 0, seq)
    assert read_bytes(raw, 4) == b"1000"  # half of "1000000\0", then nothing of it
    if mode == "truncate_close":
        assert raw.at_eof()
        return
    seq = raw.submit()  # the connection goes on: the next resp starts right there
    assert HEADER.unpack(read_bytes(raw, 16)) == (24, SUBMIT_SM_RESP, 0, seq)


def test_hostile_unknown_commands_and_sequences(sim: SimulatorProcess) -> None:
    raw = RawClient(sim.port)
    raw.bind()
    sim.hostile("unknown_command")
    seq = raw.submit()
    request, response, resp = raw.read(), raw.read(), raw.read()
    assert request[0] == 0x00000099 and response[:3] == (0x80000099, 0, seq)
    assert resp[:3] == (SUBMIT_SM_RESP, 0, seq)
    raw.sock.sendall(HEADER.pack(16, GENERIC_NACK, 0x03, request[2]))
    sim.hostile("unknown_seq")
    seq = raw.submit()
    strays = [raw.read() for _ in range(3)]
    assert [p[0] for p in strays] == [SUBMIT_SM_RESP, GENERIC_NACK, ENQUIRE_LINK | 0x80000000]
    assert all(p[2] not in (seq, request[2]) for p in strays)
    assert raw.read()[:3] == (SUBMIT_SM_RESP, 0, seq)
    stats = sim.wait_for(lambda s: s["generic_nack_received"] == 1)
    assert stats["hostile"] == {"unknown_command": 1, "unknown_seq": 1}


def test_hostile_garbage_receipts_are_dropped_when_refused(sim: SimulatorProcess) -> None:
    sim.config(redeliver_delay=0.05)
    raw = RawClient(sim.port)
    raw.bind()
    sim.hostile("garbage_receipt")
    bodies = set()
    for status in (0x65, 0x64, 0x65):  # P_APPN drops it; T_APPN has it sent again
        raw.submit()  # (no receipt asked for: the only deliver_sm is the garbage)
        (seq, body), resp = read_deliver(raw), raw.read()
        assert resp[:2] == (SUBMIT_SM_RESP, 0)
        answer(raw, seq, status)
        bodies.add(body)
    seq, again = read_deliver(raw)
    assert again in bodies
    answer(raw, seq, 0x65)
    stats = sim.wait_deliveries_settled()
    assert (stats["garbage_sent"], stats["deliver_dropped"], stats["deliver_resent"]) == (3, 3, 1)


def test_hostile_unbind_from_the_smsc(sim: SimulatorProcess) -> None:
    raw = RawClient(sim.port)
    raw.bind()
    sim.hostile("unbind")
    seq = raw.submit()
    assert raw.read()[:3] == (SUBMIT_SM_RESP, 0, seq)
    command, _status, unbind_seq, _body = raw.read()
    assert command == 0x00000006
    raw.submit()  # too late: the SMSC no longer takes submits on this bind
    assert raw.read()[:2] == (SUBMIT_SM_RESP, 0x04)
    raw.sock.sendall(HEADER.pack(16, 0x80000006, 0, unbind_seq))
    assert raw.at_eof()
    assert sim.wait_for(lambda s: s["connections"] == 0)["submit_sm"] == 1


def test_hostile_slow_writes_one_byte_per_interval(sim: SimulatorProcess) -> None:
    raw = RawClient(sim.port)
    raw.bind()
    sim.hostile("slow", slow_byte_interval=0.02)
    raw.submit()
    started = time.monotonic()
    command, status, _seq, body = raw.read()
    elapsed = time.monotonic() - started
    assert (command, status, body) == (SUBMIT_SM_RESP, 0, b"1000000\0")
    assert elapsed >= 23 * 0.02  # 24 bytes, the first written at once
    sim.config(slow_byte_interval=10)
    seq = raw.submit()
    sim.wait_for(lambda s: s["slow_bytes"] == 25)  # one byte out, 23 waiting 10 s each
    sim.hostile("off")  # what is still queued goes out at once
    assert raw.read() == (SUBMIT_SM_RESP, 0, seq, b"1000001\0")
    assert sim.stats()["slow_bytes"] == 25

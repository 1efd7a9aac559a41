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
from collections.abc import Iterator
from pathlib import Path

import pytest
import smpplib.client
import smpplib.exceptions
import smpplib.smpp

from tests.simctl import SimulatorError, SimulatorProcess

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

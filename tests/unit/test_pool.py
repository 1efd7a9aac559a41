"""The session pool (issue 12, item 8): which binds [smpp] asks for, and how many are up.

The pool builds its sessions with the real TCP connect, so the counting test runs real
sessions against a tiny SMSC on 127.0.0.1 that answers binds (or refuses the receiver
binds it is told to) and unbinds; the engine and the deliver sink are the session
tests' fakes.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.config_load import build_config
from gateway.simulator.pdu import parse_bind, pdu
from gateway.smpp import SessionPool, codec, session_settings
from gateway.testing.waiting import wait_for
from tests.unit.test_smpp_session import API_ENV, STEP, Handler, Sink


def smpp_section(**overrides: Any) -> Any:
    values = {
        "system_id": "gwuser",
        "password": "secret1",
        "enquire_link_interval": 600.0,
        "reconnect_min_delay": 0.05,
        "reconnect_max_delay": 0.1,
    }
    return build_config({"smpp": values | overrides}, environ=API_ENV).smpp


class TinySmsc:
    """A TCP SMSC on 127.0.0.1: answers binds (refusing the command ids in `refuse`),
    unbinds and enquire_links; records the binds and unbinds it saw."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self.refuse: set[int] = set()
        self.binds: list[tuple[int, str, int]] = []  # command id, system_id, status answered
        self.unbinds = 0
        self._closing = threading.Event()
        self._conns: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="tiny-smsc", daemon=True)]
        self._threads[0].start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        framer = codec.Framer()
        with contextlib.suppress(OSError):
            while chunk := conn.recv(65536):
                for data in framer.feed(chunk):
                    conn.sendall(self._answer(data))

    def _answer(self, data: bytes) -> bytes:
        header = codec.read_header(data)
        command = header.command_id
        if command in (codec.BIND_TRANSMITTER, codec.BIND_RECEIVER, codec.BIND_TRANSCEIVER):
            status = 0x0D if command in self.refuse else codec.ESME_ROK
            system_id = parse_bind(data[codec.HEADER_LENGTH :])["system_id"]
            self.binds.append((command, system_id, status))
            return pdu(command | codec.RESP, status, header.sequence, b"TINY\0")
        if command == codec.UNBIND:
            self.unbinds += 1
        return codec.header_only(command | codec.RESP, header.sequence)

    def refused(self, command_id: int) -> int:
        return sum(1 for command, _, status in self.binds if command == command_id and status)

    def close(self) -> None:
        self._closing.set()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
        for thread in self._threads:
            thread.join(STEP)
        self._listener.close()


@pytest.fixture
def tiny_smsc() -> Iterator[TinySmsc]:
    server = TinySmsc()
    yield server
    server.close()


# -- which binds -----------------------------------------------------------------------------


def test_transceiver_mode_binds_one_transceiver_per_session() -> None:
    smpp = smpp_section(sessions=3)
    binds = session_settings(smpp)
    assert [(b.name, b.bind_kind, b.transmits) for b in binds] == [
        ("trx0", "transceiver", True),
        ("trx1", "transceiver", True),
        ("trx2", "transceiver", True),
    ]
    assert all(b.smpp is smpp and b.tls is None for b in binds)


def test_transmitter_receiver_mode_binds_a_pair_per_session() -> None:
    binds = session_settings(smpp_section(sessions=2, bind_mode="transmitter_receiver"))
    assert [(b.name, b.bind_kind, b.transmits) for b in binds] == [
        ("tx0", "transmitter", True),
        ("rx0", "receiver", False),
        ("tx1", "transmitter", True),
        ("rx1", "receiver", False),
    ]


# -- how many are bound ------------------------------------------------------------------------


def test_bound_count_tells_transmitters_from_receivers(tiny_smsc: TinySmsc) -> None:
    smpp = smpp_section(port=tiny_smsc.port, sessions=2, bind_mode="transmitter_receiver")
    tiny_smsc.refuse = {codec.BIND_RECEIVER}
    pool = SessionPool(session_settings(smpp), Handler(), Sink())
    assert pool.bound_count() == 0
    pool.start()
    try:
        wait_for(
            lambda: pool.bound_count() == 2 and tiny_smsc.refused(codec.BIND_RECEIVER) >= 2,
            timeout=STEP,
            what="the transmitters bound, the receivers refused",
        )
        assert pool.bound_count(transmitting_only=True) == 2
        assert {s["name"]: s["bound"] for s in pool.snapshot()} == {
            "tx0": True,
            "rx0": False,
            "tx1": True,
            "rx1": False,
        }

        tiny_smsc.refuse = set()  # the receivers bind at their next attempt
        wait_for(lambda: pool.bound_count() == 4, timeout=STEP, what="all four binds")
        assert pool.bound_count(transmitting_only=True) == 2
        assert {system_id for _, system_id, _ in tiny_smsc.binds} == {"gwuser"}
    finally:
        pool.stop(1.0)
    assert pool.bound_count() == 0
    assert tiny_smsc.unbinds == 4  # every bound session unbinds at stop

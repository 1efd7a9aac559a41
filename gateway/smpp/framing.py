"""Read whole PDUs from a socket, keeping partial bytes across timeouts.

smpplib's own reader loses the bytes it had read when a timeout lands mid-PDU and the
stream desyncs; this one keeps them, and refuses absurd command_length values so a
corrupt stream fails fast instead of waiting for megabytes that never come. The error
carries the PDU's sequence number when its header had arrived, so the session can answer
generic_nack ESME_RINVCMDLEN for it (SMPP 3.4 section 3.3) before it hangs up.
"""

from __future__ import annotations

import struct
from typing import Protocol

MIN_PDU_LENGTH = 16
MAX_PDU_LENGTH = 64 * 1024


class ConnectionClosed(ConnectionError):
    """The peer closed the connection."""


class FramingError(ConnectionError):
    """The stream cannot be trusted any more (bad command_length)."""

    def __init__(self, message: str, sequence: int | None = None) -> None:
        super().__init__(message)
        self.sequence = sequence


class Readable(Protocol):
    """A socket, or gateway.smpp.tls.TlsStream: recv raises TimeoutError when idle."""

    def recv(self, bufsize: int, /) -> bytes: ...


class FrameReader:
    """Turns a byte stream into PDUs; `read_pdu` returns None when the socket times out."""

    def __init__(self, sock: Readable, max_length: int = MAX_PDU_LENGTH) -> None:
        self._sock = sock
        self._max_length = max_length
        self._buffer = bytearray()

    def read_pdu(self) -> bytes | None:
        pdu = self._take_pdu()
        if pdu is not None:
            return pdu
        try:
            chunk = self._sock.recv(65536)
        except TimeoutError:
            return None
        if not chunk:
            raise ConnectionClosed("connection closed by peer")
        self._buffer += chunk
        return self._take_pdu()

    def _take_pdu(self) -> bytes | None:
        if len(self._buffer) < 4:
            return None
        (length,) = struct.unpack_from(">L", self._buffer)
        if length < MIN_PDU_LENGTH or length > self._max_length:
            sequence = None
            if len(self._buffer) >= MIN_PDU_LENGTH:
                (sequence,) = struct.unpack_from(">L", self._buffer, 12)
            raise FramingError(f"absurd command_length {length}", sequence)
        if len(self._buffer) < length:
            return None
        pdu = bytes(self._buffer[:length])
        del self._buffer[:length]
        return pdu

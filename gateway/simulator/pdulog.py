"""JSON-lines log of every PDU in and out (--pdu-log), for debugging and test assertions.

Only constructed when asked for; the connection code checks `log is not None`
so decoding and JSON never run on the hot path otherwise.
"""

from __future__ import annotations

import json
import time
from typing import TextIO

from gateway.simulator.pdu import HEADER, HEADER_LEN, describe


class PduLog:
    """Appends one JSON object per PDU; line-buffered so tests can read it live."""

    def __init__(self, path: str) -> None:
        self._file: TextIO = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115

    def record(self, direction: str, conn_id: int, data: bytes) -> None:
        """Log one whole PDU (header included)."""
        _length, command, status, seq = HEADER.unpack_from(data, 0)
        entry = {"t": round(time.time(), 6), "dir": direction, "conn": conn_id}
        entry.update(describe(command, status, seq, bytes(data[HEADER_LEN:])))
        self._file.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._file.close()

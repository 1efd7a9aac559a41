"""The buffered request, as gunicorn's parser reads it in a request thread.

Why: the worker's main loop reads each request whole before a thread gets it (worker.py);
gunicorn's parser, which still does the parsing, wants something with `recv`. This gives
it the buffered bytes, then (rarely) the socket, and gives back what it left unread
(pipelined requests) for the main loop to buffer again.
"""

from __future__ import annotations

import socket


class ReplaySource:
    """What gunicorn's parser reads from: the buffered request first, then the socket.

    After a request, `take_rest()` gives back what the parser did not consume (pipelined
    requests), so the main loop can buffer the next request again.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.truncated = False
        self._data = b""
        self._pos = 0

    def replay(self, data: bytes, truncated: bool = False) -> None:
        """Serve `data` first; `truncated`: then end of input instead of the socket."""
        self._data, self._pos, self.truncated = data, 0, truncated

    def recv(self, size: int) -> bytes:
        if self._pos < len(self._data):
            chunk = self._data[self._pos : self._pos + size]
            self._pos += len(chunk)
            return chunk
        if self.truncated:
            return b""
        return self.sock.recv(size)  # only when gunicorn frames the request differently

    def take_rest(self) -> bytes:
        rest = self._data[self._pos :]
        self._data, self._pos = b"", 0
        return rest

    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)

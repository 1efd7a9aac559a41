"""A lean webhook receiver for the bench: asyncio, keep-alive, one write per answer.

Why not gateway/testing/receiver.py: its handler writes the headers and the body in two
send() calls, which with Nagle on the receiver and delayed ACK on the client costs
~40 ms per request on a kept-alive connection (measured: 44 ms/request), so it caps the
gateway at ~8 connections / 44 ms = ~180 callbacks/s. This one answers in one write and
records only what the bench needs: the `receiver` query parameter and the arrival time.
"""

from __future__ import annotations

import asyncio
import threading
import time
from urllib.parse import parse_qsl, urlsplit

from gateway.testing.waiting import wait_for

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"


class FastReceiver:
    """Counts callbacks; `records()` gives (receiver, time.time() on arrival) pairs."""

    def __init__(self) -> None:
        self._records: list[tuple[str, float]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.port = 0

    def __enter__(self) -> FastReceiver:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self._server = future.result(timeout=10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            assert self._server is not None
            self._server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.time()
                length = _content_length(head)
                if length:
                    await reader.readexactly(length)
                self._records.append((_receiver(head), arrived))
                writer.write(ANSWER)
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    def url(self, path: str = "/cb") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def count(self) -> int:
        return len(self._records)

    def records(self) -> list[tuple[str, float]]:
        return list(self._records)

    def wait_for_count(self, n: int, timeout: float) -> None:
        wait_for(lambda: self.count >= n, timeout, interval=0.01, what=f"{n} callbacks")


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            return int(line[15:])
    return 0


def _receiver(head: bytes) -> str:
    """The `receiver` parameter of a GET callback's query (POST bodies are not parsed)."""
    target = head.split(b" ", 2)[1].decode("latin-1")
    return dict(parse_qsl(urlsplit(target).query)).get("receiver", "")

"""A real local HTTP server that records the webhooks it receives, for tests.

    with WebhookReceiver() as rx:
        url = rx.url("/cb")                      # http://127.0.0.1:<port>/cb
        ...                                      # make the gateway call it
        first, = rx.wait_for_count(1)            # ReceivedRequest objects
        assert first.method == "GET" and first.query["status"] == "DELIVERED"

Knobs, all safe to turn while requests are coming in:

- `set_status(200)`: the status of every answer; `set_status([500, 500, 200])` answers
  those in turn and then keeps the last one; `set_status(fn)` calls `fn(request)` with
  the ReceivedRequest (its `status` not yet set) for each answer. A status may also be
  a `(status, {"Header": "value"})` pair, e.g. `(429, {"Retry-After": "1"})`, or a
  `(status, {...}, b"body")` triple (the body is otherwise "ok" or "status N").
- `set_delay(seconds)`: wait that long before answering each request (recorded first).
- `down()`: stop listening and drop open connections: senders get "connection refused";
  `up()`: listen again on the same port.

Recording: `requests` (a copy, in arrival order), `count`, `ids()` (X-Webhook-Id values),
`wait_for_count(n, timeout)`, `clear()`. HTTP/1.1 with keep-alive, so a client's
connection pool is exercised as in production; `WebhookReceiver(tls=context)` speaks
https with that server-side ssl.SSLContext. Only ever binds 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gateway.testing.waiting import wait_for

Answer = int | tuple[int, dict[str, str]] | tuple[int, dict[str, str], bytes]
StatusSpec = Answer | Sequence[Answer] | Callable[["ReceivedRequest"], Answer]


@dataclass
class ReceivedRequest:
    method: str
    target: str  # path and query as on the request line (what a GET signature covers)
    path: str
    query: dict[str, str]  # the last value of each parameter
    headers: dict[str, str]  # names as sent; use header() to look up case-insensitively
    body: bytes
    at: float  # time.time() when the request had been read
    status: int | None = None  # the answer given (None while it is delayed)
    answered_at: float | None = None
    client_port: int = 0  # the sender's port: equal for requests on one kept-alive connection

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lowered), None)

    @property
    def webhook_id(self) -> str | None:
        return self.header("X-Webhook-Id")

    def json(self) -> Any:
        import json

        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))


@dataclass
class _State:
    answers: list[Answer] | Callable[[ReceivedRequest], Answer] = field(
        default_factory=lambda: list[Answer]([200])
    )
    delay: float = 0.0


class WebhookReceiver:
    def __init__(
        self, status: StatusSpec = 200, delay: float = 0.0, tls: ssl.SSLContext | None = None
    ) -> None:
        self._tls = tls
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._connections: set[socket.socket] = set()
        self._state = _State()
        self.set_status(status)
        self.set_delay(delay)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle -------------------------------------------------------------------

    def __enter__(self) -> WebhookReceiver:
        return self.up()

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> WebhookReceiver:
        """Listen (again): on a free port the first time, on the same port afterwards."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", self.port), _handler(self))
        server.daemon_threads = True
        server.block_on_close = False
        if self._tls is not None:  # the handshake happens on the handler's first read
            server.socket = self._tls.wrap_socket(
                server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"receiver-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def down(self) -> None:
        """Stop listening and cut every open connection (new ones are refused)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def is_up(self) -> bool:
        return self._server is not None

    # -- knobs -----------------------------------------------------------------------

    def url(self, path: str = "/cb") -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def set_status(self, status: StatusSpec) -> None:
        if callable(status):
            answers: Any = status
        elif isinstance(status, int | tuple):
            answers = [status]
        else:
            answers = list(status)
            if not answers:
                raise ValueError("set_status needs at least one status")
        with self._lock:
            self._state.answers = answers

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self._state.delay = seconds

    # -- what came in ----------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._requests)

    def ids(self) -> list[str | None]:
        return [r.webhook_id for r in self.requests]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def wait_for_count(self, n: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        """Wait until at least `n` requests have been answered; returns all recorded."""
        wait_for(
            lambda: sum(r.status is not None for r in self.requests) >= n,
            timeout,
            what=f"{n} webhook requests at {self.url('')}",
        )
        return self.requests

    # -- used by the handler ---------------------------------------------------------

    def _record(self, request: ReceivedRequest) -> tuple[Answer, float]:
        with self._lock:
            self._requests.append(request)
            answers, delay = self._state.answers, self._state.delay
            if callable(answers):
                pass
            elif len(answers) > 1:
                return answers.pop(0), delay
            else:
                return answers[0], delay
        return answers(request), delay

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._connections.add if add else self._connections.discard)(conn)


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            return  # a client that did not trust the certificate, or hung up: no traceback
        super().handle_error(request, client_address)


def _handler(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body leave in two writes; without TCP_NODELAY, Nagle plus the
        # sender's delayed ACK held each kept-alive answer ~40 ms
        disable_nagle_algorithm = True

        def setup(self) -> None:
            super().setup()
            receiver._track(self.connection, True)

        def finish(self) -> None:
            receiver._track(self.connection, False)
            with contextlib.suppress(OSError):
                super().finish()

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = ReceivedRequest(
                method=self.command,
                target=self._target(),
                path=parts.path,
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                headers=dict(self.headers.items()),
                body=body,
                at=time.time(),
                client_port=self.client_address[1],
            )
            answer, delay = receiver._record(request)
            if delay > 0:
                time.sleep(delay)  # the knob: a slow receiver
            status, extra = (answer[0], answer[1]) if isinstance(answer, tuple) else (answer, {})
            payload = b"ok" if 200 <= status < 300 else f"status {status}".encode()
            if isinstance(answer, tuple) and len(answer) == 3:
                payload = answer[2]
            try:
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.wfile.flush()
            except OSError:
                self.close_connection = True
            request.status, request.answered_at = status, time.time()

        def _target(self) -> str:
            """As on the request line: http.server's `path` turns a leading // into /."""
            words = self.requestline.split()
            return words[1] if len(words) == 3 else self.path

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler

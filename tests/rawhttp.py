"""A raw HTTP/1.1 client for hostile-request tests: exact bytes on a real socket.

urllib and http.client refuse or rewrite much of what a hostile caller sends (chunked
framing chosen per request, odd header values, bytes that are not valid in a URL), so
tests that must send those write the request themselves:

    response = raw_request(port, "POST", "/sms", body, headers={"X-Mitto-API-Key": k},
                           chunked=True)
    assert response.status == 413

Each request is one connection (`Connection: close`): the whole request is written, then
the answer is read to the end. Only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(
    port: int,
    method: str,
    target: str | bytes,
    body: bytes | None = None,
    *,
    headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    chunked: bool = False,
    chunk_size: int = 64 * 1024,
    timeout: float = 10.0,
) -> RawResponse:
    """Send one request as given and read its answer; the Content-Length (or the chunked
    framing) is added for a body unless `headers` already frame it."""
    items = list(headers.items() if isinstance(headers, Mapping) else headers)
    names = {name.lower() for name, _ in items}
    if body is not None and not names & {"content-length", "transfer-encoding"}:
        items.append(
            ("Transfer-Encoding", "chunked") if chunked else ("Content-Length", str(len(body)))
        )
    line = target.encode("latin-1") if isinstance(target, str) else target
    head = method.encode() + b" " + line + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    head += b"".join(f"{n}: {v}\r\n".encode("latin-1") for n, v in items)
    head += b"Connection: close\r\n\r\n"
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        try:
            sock.sendall(head)
            if body is not None:
                sock.sendall(_chunked(body, chunk_size) if chunked else body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: read what it said
        return _read_response(sock)


def _chunked(body: bytes, size: int) -> bytes:
    pieces = [
        f"{len(body[i : i + size]):x}\r\n".encode() + body[i : i + size] + b"\r\n"
        for i in range(0, len(body), size)
    ]
    return b"".join(pieces) + b"0\r\n\r\n"


def _read_response(sock: socket.socket) -> RawResponse:
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1."):
        raise AssertionError(f"no HTTP answer: {data[:200]!r}")
    status = int(lines[0].split()[1])
    headers = {}
    for header in lines[1:]:
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    return RawResponse(status, headers, _unframe(rest, headers))


def _unframe(rest: bytes, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() != "chunked":
        length = headers.get("content-length")
        return rest[: int(length)] if length and length.isdigit() else rest
    body = b""
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        body += rest[:size]
        rest = rest[size + 2 :]
    return body

"""Minimal HTTP/1.1 + JSON control server for the simulator (stdlib asyncio only).

Tests drive fault injection and read counters through it while the SMPP side
runs; one request per connection (`Connection: close`) keeps the parser tiny.
Bound to 127.0.0.1 only: it has no authentication.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from gateway.simulator.smsc import Smsc

MAX_HEADER = 16 * 1024
MAX_BODY = 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
}

Route = Callable[[dict[str, list[str]], Any], Any]


class HttpError(Exception):
    """An error answered as {"error": ...} with the given HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ControlServer:
    """Routes GET/POST requests to the `Smsc`; see the module docstring of cli.py."""

    def __init__(self, smsc: Smsc) -> None:
        self._smsc = smsc
        self._routes: dict[tuple[str, str], Route] = {
            ("GET", "/healthz"): lambda _q, _b: {"ok": True},
            ("GET", "/stats"): lambda _q, _b: smsc.stats_view(),
            ("GET", "/submits"): self._submits,
            ("GET", "/config"): lambda _q, _b: smsc.cfg.runtime_view(),
            ("POST", "/config"): lambda _q, body: smsc.configure(_object(body)),
            ("POST", "/pause"): self._pause,
            ("POST", "/resume"): self._resume,
            ("POST", "/disconnect"): lambda _q, _b: {"closed": smsc.disconnect_all()},
            ("POST", "/reset"): self._reset,
            ("POST", "/mo"): lambda _q, body: smsc.mo(_object(body)),
        }

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self._handle, host, port)

    def _submits(self, query: dict[str, list[str]], _body: Any) -> Any:
        since = int(query.get("since", ["0"])[0])
        limit = int(query["limit"][0]) if "limit" in query else None
        return self._smsc.submits_view(since, limit)

    def _pause(self, _query: dict[str, list[str]], _body: Any) -> Any:
        self._smsc.pause()
        return {"paused": True}

    def _resume(self, _query: dict[str, list[str]], _body: Any) -> Any:
        self._smsc.resume()
        return {"paused": False}

    def _reset(self, _query: dict[str, list[str]], _body: Any) -> Any:
        self._smsc.reset()
        return {"reset": True}

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, payload = await self._answer(reader)
        except HttpError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        body = json.dumps(payload).encode()
        head = (
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        try:
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, Any]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        if len(head) > MAX_HEADER:
            return 400, {"error": "headers too large"}
        method, target, headers = _parse_head(head)
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            return 400, {"error": "body too large"}
        raw = await asyncio.wait_for(reader.readexactly(length), timeout=10) if length else b""
        try:
            return 200, self._route(method, target, raw)
        except HttpError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"{type(exc).__name__}: {exc}"}
        except Exception as exc:  # a simulator bug must not look like a dropped link
            self._smsc.event(f"control {method} {target} failed: {exc!r}")
            return 500, {"error": f"{type(exc).__name__}: {exc}"}

    def _route(self, method: str, target: str, raw: bytes) -> Any:
        url = urlsplit(target)
        route = self._routes.get((method, url.path))
        if route is None:
            known = {path for _m, path in self._routes}
            raise HttpError(405 if url.path in known else 404, f"no route {method} {url.path}")
        body = json.loads(raw) if raw.strip() else None
        return route(parse_qs(url.query), body)


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split()
    if len(parts) != 3:
        raise HttpError(400, "bad request line")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return parts[0].upper(), parts[1], headers


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise HttpError(400, "expected a JSON object")
    return body

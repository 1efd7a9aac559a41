"""Multi-process HTTP load generator with keep-alive connections (stdlib http.client).

Why not wrk: it is not installed everywhere, and the bodies need a unique receiver per
message. Connections are threads spread over processes (one GIL each), every
connection is opened before the clock starts, and each request's latency is taken
around one `request`/`getresponse` pair. `calibrate()` runs the same generator against a
trivial local server, so its own ceiling is measured in the same run as the gateway.
"""

from __future__ import annotations

import asyncio
import http.client
import multiprocessing as mp
import os
import resource
import threading
import time
from array import array
from dataclasses import dataclass, field
from typing import Any

from gateway.testing.process import API_KEY

FIRST_NUMBER = 4917_0000_0000


@dataclass(frozen=True)
class LoadSpec:
    """What to send: `count` requests of `per_call` receivers each over `connections`."""

    port: int
    path: str = "/sms"
    count: int = 1000
    connections: int = 32
    procs: int = 2
    per_call: int = 1  # receivers per request; > 1 means POST /smsbulk bodies
    time_limit: float = 60.0
    rate: float = 0.0  # requests/s pacing over all connections; 0 = as fast as possible
    first_number: int = FIRST_NUMBER
    host: str = "127.0.0.1"


@dataclass
class LoadResult:
    """Aggregated over all connections; latencies in seconds, times from time.time()."""

    ok: int = 0
    errors: int = 0
    start: float = 0.0
    end: float = 0.0
    cpu_seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def elapsed(self) -> float:
        return max(self.end - self.start, 1e-9)

    @property
    def rate(self) -> float:
        return self.ok / self.elapsed


def body_for(spec: LoadSpec, index: int) -> bytes:
    """Request `index`'s JSON body; receivers are unique across the whole load."""
    first = spec.first_number + index * spec.per_call
    if spec.per_call == 1:
        return b'{"from":"BENCH","to":"%d","text":"bench message"}' % first
    to = ",".join(f'"{n}"' for n in range(first, first + spec.per_call))
    return b'{"from":"BENCH","text":"bench message","to":[%s]}' % to.encode()


HEADERS = {"Content-Type": "application/json", "X-Mitto-API-Key": API_KEY}


class _Connection:
    """One keep-alive connection sending request indices conn, conn+C, conn+2C, ..."""

    def __init__(self, spec: LoadSpec, conn_index: int) -> None:
        self.spec = spec
        self.conn_index = conn_index
        self.ok = self.errors = 0
        self.latencies = array("d")
        self.http = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        conn = http.client.HTTPConnection(self.spec.host, self.spec.port, timeout=30)
        conn.connect()
        return conn

    def run(self, t0: float, deadline: float) -> None:
        spec = self.spec
        for index in range(self.conn_index, spec.count, spec.connections):
            if time.monotonic() > deadline:
                return
            if spec.rate:
                self._pace(t0 + index / spec.rate)
            self._one(body_for(spec, index))

    @staticmethod
    def _pace(due: float) -> None:
        """Open-loop pacing: request i is not sent before its slot (not synchronisation)."""
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _one(self, body: bytes) -> None:
        started = time.perf_counter()
        try:
            self.http.request("POST", self.spec.path, body, HEADERS)
            response = self.http.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            self.errors += 1
            self.http.close()
            self.http = self._connect()
            return
        self.latencies.append(time.perf_counter() - started)
        if response.status == 200:
            self.ok += 1
        else:
            self.errors += 1


def _worker(spec: LoadSpec, proc_index: int, barrier: Any, go: Any, results: Any) -> None:
    """One process: its share of connections as threads; reports counts and latencies."""
    conns = [_Connection(spec, i) for i in range(proc_index, spec.connections, spec.procs)]
    barrier.wait(timeout=30)
    go.wait(timeout=30)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    t0, deadline = time.monotonic(), time.monotonic() + spec.time_limit
    threads = [threading.Thread(target=c.run, args=(t0, deadline)) for c in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    end = time.time()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - usage.ru_utime + after.ru_stime - usage.ru_stime
    latencies = array("d")
    for conn in conns:
        latencies.extend(conn.latencies)
    ok, errors = sum(c.ok for c in conns), sum(c.errors for c in conns)
    results.put((ok, errors, end, cpu, latencies.tobytes()))


def run_load(spec: LoadSpec) -> LoadResult:
    """Run the load in `procs` fresh processes; returns when all stopped (or time ran out)."""
    ctx = mp.get_context("spawn")
    procs = max(1, min(spec.procs, spec.connections))
    spec = LoadSpec(**{**spec.__dict__, "procs": procs})
    barrier, go, results = ctx.Barrier(procs + 1), ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(spec, i, barrier, go, results), daemon=True)
        for i in range(procs)
    ]
    for worker in workers:
        worker.start()
    try:
        barrier.wait(timeout=60)
        result = LoadResult(start=time.time())
        go.set()
        for _ in workers:
            _merge(result, results.get(timeout=spec.time_limit + 60))
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    return result


def _merge(result: LoadResult, part: tuple) -> None:
    ok, errors, end, cpu, raw = part
    result.ok += ok
    result.errors += errors
    result.end = max(result.end, end)
    result.cpu_seconds += cpu
    latencies = array("d")
    latencies.frombytes(raw)
    result.latencies.extend(latencies)


# -- calibration: the generator against a server that does nothing ---------------------

RESPONSE = (
    b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
)


async def _trivial(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            writer.write(RESPONSE)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


def _serve_trivial(port_queue: Any) -> None:
    async def main() -> None:
        server = await asyncio.start_server(_trivial, "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await server.serve_forever()

    asyncio.run(main())


def calibrate(count: int, connections: int, procs: int) -> LoadResult:
    """The generator's rate against a do-nothing asyncio server on loopback."""
    ctx = mp.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve_trivial, args=(ports,), daemon=True)
    server.start()
    try:
        port = ports.get(timeout=30)
        spec = LoadSpec(port=port, count=count, connections=connections, procs=procs)
        return run_load(spec)
    finally:
        server.kill()
        server.join(timeout=10)


def default_procs() -> int:
    return max(1, min(4, os.cpu_count() or 1))

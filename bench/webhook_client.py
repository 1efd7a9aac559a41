"""What does one webhook POST cost the client in CPU? Not a test: a number to choose by.

Issue 13 (item 3): the dispatcher process spends ~0.43 ms of CPU per callback and
urllib3's request path is ~40% of it. This script measures, for each HTTP client, the
CPU seconds of the client process (user + system, all its threads, from getrusage) per
POST of a ~400-byte JSON body with the dispatcher's headers (X-Webhook-*, User-Agent,
Content-Type, the HMAC signature) to a keep-alive receiver in another process:

- urllib3: the gateway's Urllib3Transport (gateway/webhooks/urllib3_transport.py), N
  threads sharing one PoolManager: the dispatcher's client before pycurl;
- http.client: N threads, each with its own persistent HTTPConnection;
- pycurl: the gateway's CurlTransport (gateway/webhooks/curl_transport.py), pycurl's
  multi interface, one thread driving N concurrent transfers: the dispatcher's client;
- pycurl-bare: the same multi interface with nothing but the request (no answer
  parsing, no timer or socket callbacks): the floor of what libcurl costs;
- aiohttp: one event-loop thread, N concurrent tasks over one ClientSession;
- httpx: httpx.Client (h11, pure Python) shared by N threads;
- dispatcher-urllib3, dispatcher-pycurl: the whole dispatcher (gateway/webhooks/
  dispatcher.py: claims, outcomes, metrics, the SQLite store's writer thread) with each
  transport, delivering `--count` outbox rows seeded into a fresh SQLite store: the CPU
  per callback the dispatcher process spends, of which the client is a part.

The two gateway transports get each request as the dispatcher makes it
(attempt.build_request: headers and signature per request) from a stand-in for the
dispatcher (BenchJobs: no store); the others send the same headers (headers_for()).
aiohttp and httpx are not dependencies of the gateway: without them installed they are
skipped (`pip install aiohttp httpx` into the venv to include them).

The receiver is an asyncio protocol in its own process that reads each request's head
and Content-Length body and answers a canned 200 in one write: cheap enough that the
client dominates (its CPU per request is printed too). Each measurement runs in a fresh
client process: a warm-up opens the connections, then `--count` POSTs are timed.

    .venv/bin/python -m bench.webhook_client [--count 10000] [--concurrency 1 8 32]
        [--repeat 3] [--clients urllib3 http.client pycurl ...] [--json FILE]

Prints CPU µs/request and requests/s, the median of `--repeat` runs, per client and
concurrency. Only 127.0.0.1; every run is bounded by `--count` and by RUN_DEADLINE, and
the receiver exits by itself when the script ends (or after RECEIVER_LIFETIME).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import itertools
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from gateway.model import OutboxItem, OutboxRow
from gateway.webhooks import signing
from gateway.webhooks.attempt import USER_AGENT, build_request, judge
from gateway.webhooks.transport import MAX_ANSWER, Job, Reply, Transport
from gateway.webhooks.urls import check_url

CLIENTS = (
    "urllib3",
    "http.client",
    "pycurl",
    "pycurl-bare",
    "aiohttp",
    "httpx",
    "dispatcher-urllib3",
    "dispatcher-pycurl",
)
RUN_DEADLINE = 120.0  # seconds one client run may take, warm-up included
RECEIVER_LIFETIME = 3600.0  # seconds: the receiver's own bound, should the script vanish
TIMEOUT = 10.0  # webhooks.timeout's default
SECRET = "bench-secret"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
BODY = json.dumps(
    {
        "messageId": "0196a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        "smscMessageId": "1a2b3c4d5e",
        "status": "DELIVERED",
        "receiver": "41791234567",
        "sender": "MITTO SMS",
        "errorCode": 0,
        "doneAt": "2026-05-09T07:35:25.123Z",
        "submittedAt": "2026-05-09T07:35:24.987Z",
        "segments": 1,
        "price": "0.0450",
        "currency": "EUR",
        "reference": "order-4711",
        "mccmnc": "22801",
        "network": "Swisscom",
        "text": "Your order 4711 has shipped.",
    }
).encode()


# -- the receiver (its own process) ---------------------------------------------------


class _Answering(asyncio.Protocol):
    """Reads requests (head, then Content-Length bytes) and answers each with ANSWER."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        answers = 0
        while True:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            total = end + 4 + _content_length(buffer[:end])
            if len(buffer) < total:
                break
            buffer = buffer[total:]
            answers += 1
        self._buffer = buffer
        if answers and self._transport is not None:
            self._transport.write(ANSWER * answers)


def _content_length(head: bytes) -> int:
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        return 0
    line_end = head.find(b"\r\n", at + 2)
    return int(head[at + 17 : line_end if line_end >= 0 else len(head)])


def serve() -> None:
    """Receiver process: prints its port, answers until stdin closes or its lifetime ends."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Answering, "127.0.0.1", 0, backlog=256)
        print(server.sockets[0].getsockname()[1], flush=True)
        closed = loop.run_in_executor(None, sys.stdin.read)  # EOF: the script is gone
        await asyncio.wait_for(closed, RECEIVER_LIFETIME)
        server.close()

    with contextlib.suppress(TimeoutError):
        asyncio.run(main())
    os._exit(0)  # the stdin reader thread may still block


# -- what every client sends ----------------------------------------------------------


def headers_for(n: int) -> dict[str, str]:
    """The dispatcher's headers for request `n` (attempt.send() builds the same)."""
    now = int(time.time())
    headers = {
        "User-Agent": USER_AGENT,
        "X-Webhook-Id": f"0196a1b2-c3d4-7e5f-8a9b-{n:012d}",
        "X-Webhook-Attempt": "1",
        "Content-Type": "application/json",
    }
    headers.update(signing.signature_headers(SECRET, now, BODY))
    return headers


class Tally:
    """Counts answers by status, from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.ok = 0
        self.failed: dict[str, int] = {}

    def add(self, good: bool, what: str = "") -> None:
        with self._lock:
            if good:
                self.ok += 1
            else:
                self.failed[what] = self.failed.get(what, 0) + 1


def in_threads(threads: int, work: Callable[[], None]) -> None:
    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(RUN_DEADLINE)


# -- the clients: each runs `count` POSTs at `concurrency` --------------------------------


class BenchJobs:
    """The dispatcher's side of a transport (transport.Jobs) without a store: `count`
    jobs to `url`, each request built as the dispatcher builds it."""

    def __init__(self, url: str, count: int, tally: Tally) -> None:
        self._target = check_url(url)
        self._url = url
        self._count = count
        self._numbers = itertools.count()
        self._done = 0
        self._lock = threading.Lock()
        self._all_done = threading.Event()
        self._tally = tally

    def take(self, wait: bool) -> Job | None:
        n = next(self._numbers)
        if n >= self._count:
            if wait:
                self._all_done.wait(0.05)
            return None
        row_id = f"0196a1b2-c3d4-7e5f-8a9b-{n:012d}"
        row = OutboxRow(row_id, "callback", None, 0.0, self._url, "POST", "application/json", BODY)
        item = OutboxItem(row, 1)
        return Job(item, self._target, build_request(item, self._target, SECRET, time.time))

    def done(self, job: Job, reply: Reply) -> None:
        result = judge(reply, time.time())
        self._tally.add(result.delivered, result.error)
        with self._lock:
            self._done += 1
            if self._done >= self._count:
                self._all_done.set()

    def stopping(self) -> bool:
        return self._all_done.is_set()


def run_transport(transport: Transport, url: str, count: int, tally: Tally) -> Callable[[], None]:
    def run() -> None:
        jobs = BenchJobs(url, count, tally)
        threads = [threading.Thread(target=loop, daemon=True) for _, loop in transport.loops(jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(RUN_DEADLINE)
        transport.close()

    return run


def run_urllib3(url: str, concurrency: int, count: int, tally: Tally) -> Callable[[], None]:
    from gateway.webhooks.urllib3_transport import Urllib3Transport

    return run_transport(Urllib3Transport(concurrency, TIMEOUT), url, count, tally)


def run_pycurl(url: str, concurrency: int, count: int, tally: Tally) -> Callable[[], None]:
    from gateway.webhooks.curl_transport import CurlTransport

    return run_transport(CurlTransport(concurrency, TIMEOUT), url, count, tally)


def run_http_client(url: str, concurrency: int, count: int, tally: Tally) -> Callable[[], None]:
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    numbers = itertools.count()

    def work() -> None:
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=TIMEOUT)
        try:
            while (n := next(numbers)) < count:
                conn.request("POST", parts.path, BODY, headers_for(n))
                response = conn.getresponse()
                response.read(MAX_ANSWER + 1)
                tally.add(200 <= response.status < 300, str(response.status))
        finally:
            conn.close()

    return lambda: in_threads(concurrency, work)


def run_pycurl_bare(url: str, concurrency: int, count: int, tally: Tally) -> Callable[[], None]:
    import pycurl

    def transfer(n: int, curl: Any) -> None:
        headers = [f"{k}: {v}" for k, v in headers_for(n).items()] + ["Expect:"]
        curl.answer = bytearray()
        curl.setopt(pycurl.HTTPHEADER, headers)
        curl.setopt(pycurl.POSTFIELDS, BODY)
        curl.setopt(pycurl.WRITEFUNCTION, curl.answer.extend)

    def run() -> None:
        multi = pycurl.CurlMulti()
        multi.setopt(pycurl.M_MAX_HOST_CONNECTIONS, concurrency)
        multi.setopt(pycurl.M_MAXCONNECTS, concurrency)
        idle = []
        for _ in range(concurrency):
            curl = pycurl.Curl()
            curl.setopt(pycurl.URL, url)
            curl.setopt(pycurl.NOSIGNAL, 1)
            curl.setopt(pycurl.TIMEOUT_MS, int(TIMEOUT * 1000))
            curl.setopt(pycurl.FOLLOWLOCATION, 0)
            idle.append(curl)
        started = done = 0
        deadline = time.monotonic() + RUN_DEADLINE
        while done < count and time.monotonic() < deadline:
            while idle and started < count:
                curl = idle.pop()
                transfer(started, curl)
                multi.add_handle(curl)
                started += 1
            while multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
                pass
            _, finished, failed = multi.info_read()
            for curl in finished:
                status = curl.getinfo(pycurl.RESPONSE_CODE)
                tally.add(200 <= status < 300, str(status))
            for _curl, _code, message in failed:
                tally.add(False, message)
            for curl in finished + [f[0] for f in failed]:
                multi.remove_handle(curl)
                idle.append(curl)
                done += 1
            if not finished and not failed:
                multi.select(1.0)
        for curl in idle:
            curl.close()
        multi.close()

    return run


def run_aiohttp(url: str, concurrency: int, count: int, tally: Tally) -> Callable[[], None]:
    import aiohttp

    async def main() -> None:
        numbers = itertools.count()
        connector = aiohttp.TCPConnector(limit=concurrency)
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def work() -> None:
                while (n := next(numbers)) < count:
                    async with session.post(
                        url, data=BODY, headers=headers_for(n), allow_redirects=False
                    ) as response:
                        await response.content.read(MAX_ANSWER + 1)
                        tally.add(200 <= response.status < 300, str(response.status))

            await asyncio.wait_for(
                asyncio.gather(*(work() for _ in range(concurrency))), RUN_DEADLINE
            )

    return lambda: asyncio.run(main())


def run_httpx(url: str, concurrency: int, count: int, tally: Tally) -> Callable[[], None]:
    import httpx

    client = httpx.Client(
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=TIMEOUT,
        follow_redirects=False,
    )
    numbers = itertools.count()

    def work() -> None:
        while (n := next(numbers)) < count:
            with client.stream("POST", url, content=BODY, headers=headers_for(n)) as response:
                for _chunk in response.iter_raw():
                    pass
                tally.add(200 <= response.status_code < 300, str(response.status_code))

    def run() -> None:
        in_threads(concurrency, work)
        client.close()

    return run


def run_dispatcher(url: str, concurrency: int, count: int, tally: Tally, kind: str) -> Any:
    """The Dispatcher with transport `kind` over `count` rows seeded into a fresh SQLite
    store (seeding is not timed); run() returns when every row has an outcome recorded."""
    from gateway import ids, metrics
    from gateway.config import StoreSettings, WebhooksSettings
    from gateway.store import open_store
    from gateway.store.sql import outbox
    from gateway.webhooks.curl_transport import CurlTransport
    from gateway.webhooks.dispatcher import Dispatcher
    from gateway.webhooks.urllib3_transport import Urllib3Transport

    directory = tempfile.mkdtemp(prefix="webhook-client-bench-")
    store = open_store(StoreSettings(path=f"{directory}/gateway.db"))
    now = time.time()
    rows = [
        OutboxRow(ids.new_id(), "callback", None, now, url, "POST", "application/json", BODY)
        for _ in range(count)
    ]

    def insert_all(conn: Any) -> None:
        for row in rows:
            outbox.insert(conn, row, now)

    seed = store._writer.call  # type: ignore[attr-defined]  # SQLite's one writer
    seed(insert_all, label="seed", timeout=60)
    settings = WebhooksSettings(
        concurrency=concurrency,
        timeout=TIMEOUT,
        secret=SECRET,
        allowed_callback_hosts=("127.0.0.1",),
    )
    transports = {"urllib3": Urllib3Transport, "pycurl": CurlTransport}
    transport = transports[kind](concurrency, TIMEOUT)

    def outcomes() -> dict[str, float]:
        sample = metrics.REGISTRY.get_sample_value
        name = "smpp_gateway_webhook_deliveries_total"
        return {o: sample(name, {"outcome": o}) or 0.0 for o in ("delivered", "retry", "dead")}

    def run() -> None:
        before = outcomes()
        dispatcher = Dispatcher(store, settings, transport=transport)
        dispatcher.start()
        deadline = time.monotonic() + RUN_DEADLINE
        while time.monotonic() < deadline:
            now = outcomes()
            if sum(now.values()) - sum(before.values()) >= count:
                break
            time.sleep(0.01)
        store.flush(10)
        dispatcher.stop(10)
        now = outcomes()
        tally.ok = int(now["delivered"] - before["delivered"])
        failed = int(now["retry"] - before["retry"] + now["dead"] - before["dead"])
        if failed:
            tally.failed["retry or dead"] = failed
        store.close()
        shutil.rmtree(directory, ignore_errors=True)

    return run


RUNNERS: dict[str, Callable[[str, int, int, Tally], Callable[[], None]]] = {
    "urllib3": run_urllib3,
    "http.client": run_http_client,
    "pycurl": run_pycurl,
    "pycurl-bare": run_pycurl_bare,
    "aiohttp": run_aiohttp,
    "httpx": run_httpx,
    "dispatcher-urllib3": partial(run_dispatcher, kind="urllib3"),
    "dispatcher-pycurl": partial(run_dispatcher, kind="pycurl"),
}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(client: str, url: str, concurrency: int, count: int) -> dict[str, Any]:
    """In the client process: a warm-up (connections open), then `count` timed POSTs."""
    warm = Tally()
    RUNNERS[client](url, concurrency, max(50, 4 * concurrency), warm)()
    tally = Tally()
    run = RUNNERS[client](url, concurrency, count, tally)
    cpu, wall = cpu_seconds(), time.perf_counter()
    run()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {"cpu": cpu, "wall": wall, "ok": tally.ok, "failed": tally.failed}


# -- the script ------------------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """utime + stime of another process, from /proc (Linux)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(receiver: subprocess.Popen[str], port: int, client: str, n: int, count: int) -> Any:
    before = process_cpu(receiver.pid)
    out = subprocess.run(
        [sys.executable, "-m", "bench.webhook_client", "--run", client, str(n), str(count)],
        env={**os.environ, "WEBHOOK_BENCH_URL": f"http://127.0.0.1:{port}/cb"},
        capture_output=True,
        text=True,
        timeout=RUN_DEADLINE + 30,
        check=True,
    )
    result = json.loads(out.stdout)
    result["receiver_cpu"] = process_cpu(receiver.pid) - before
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clients", nargs="+", choices=CLIENTS, default=list(CLIENTS))
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--run", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    if args.run:
        client, n, count = args.run
        url = os.environ["WEBHOOK_BENCH_URL"]
        print(json.dumps(measure(client, url, int(n), int(count))))
        return 0
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.webhook_client", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        rows = run_all(receiver, port, args)
    finally:
        if receiver.stdin is not None:
            receiver.stdin.close()
        receiver.wait(10)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return 0


def run_all(receiver: subprocess.Popen[str], port: int, args: argparse.Namespace) -> list[Any]:
    print(f"{args.count} POSTs of {len(BODY)} bytes per run, median of {args.repeat}")
    print(f"{'client':<18} {'conc':>4} {'CPU µs/req':>10} {'req/s':>8} {'rx µs/req':>9}  failed")
    rows = []
    for client in args.clients:
        module = {"aiohttp": "aiohttp", "httpx": "httpx"}.get(client)
        if module and importlib.util.find_spec(module) is None:
            print(f"{client:<18} not installed: skipped")
            continue
        for n in args.concurrency:
            runs = [one_run(receiver, port, client, n, args.count) for _ in range(args.repeat)]
            row = {
                "client": client,
                "concurrency": n,
                "cpu_us": statistics.median(r["cpu"] / args.count * 1e6 for r in runs),
                "rate": statistics.median(args.count / r["wall"] for r in runs),
                "receiver_us": statistics.median(
                    r["receiver_cpu"] / args.count * 1e6 for r in runs
                ),
                "failed": sum(args.count - r["ok"] for r in runs),
                "runs": runs,
            }
            rows.append(row)
            print(
                f"{client:<18} {n:>4} {row['cpu_us']:>10.0f} {row['rate']:>8.0f}"
                f" {row['receiver_us']:>9.0f}  {row['failed']}",
                flush=True,
            )
    return rows


if __name__ == "__main__":
    sys.exit(main())

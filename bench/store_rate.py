"""How fast can the store make messages durable? Not a test: a number to watch.

Accepts N one-segment messages from T threads in each of P processes (each accept() is
one HTTP request's worth; each process has its own store and writer thread, as each HTTP
worker does) and prints accepts/s, commits, the mean group size and latency percentiles.

    .venv/bin/python -m bench.store_rate [--messages 20000] [--threads 8]
        [--procs 1] [--synchronous FULL|NORMAL] [--max-delay 0.002] [--max-batch 512]
        [--ordered-ids]

--ordered-ids uses the gateway's time-ordered ids (UUIDv7, gateway/ids.py) instead of
uuid4: new rows then land at the end of the primary-key and event indexes instead of on
random pages, so each commit writes fewer pages to the WAL.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import threading
import time
import uuid
from typing import Any

from gateway import ids
from gateway.config import StoreSettings
from gateway.model import NewMessage, Segment, SubmitParams
from gateway.store import open_store

PARAMS = SubmitParams("Gateway", 5, 0, "41791234567", 1, 1, 0, 0)


def message(now: float, ordered: bool = False) -> NewMessage:
    return NewMessage(
        id=ids.new_id() if ordered else str(uuid.uuid4()),
        created_at=now,
        api_key_id="bench",
        receiver="41791234567",
        receiver_as_given="+41 79 123 45 67",
        text="Hello from the store benchmark",
        text_length=30,
        submit=PARAMS,
        segments=(Segment(0, b"Hello from the store benchmark"),),
        expires_at=now + 86400,
    )


def accept_in_threads(args: argparse.Namespace, path: str, out: Any) -> None:
    """One process: its own store (writer thread) and `threads` accepting threads; puts
    (latencies, commit group sizes) on `out`."""
    commits: list[int] = []
    settings = StoreSettings(
        path=path, commit_max_delay=args.max_delay, commit_max_batch=args.max_batch
    )
    store = open_store(
        settings,
        synchronous=args.synchronous,
        on_commit=lambda ops, _s: commits.append(ops),
    )
    per_thread = args.messages // (args.threads * args.procs)
    latencies: list[list[float]] = [[] for _ in range(args.threads)]

    def worker(lat: list[float]) -> None:
        for _ in range(per_thread):
            t0 = time.perf_counter()
            store.accept([message(time.time(), args.ordered_ids)])
            lat.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(lat,)) for lat in latencies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store.close()
    out.put(([x for per in latencies for x in per], commits))


def run(args: argparse.Namespace, directory: str) -> None:
    path = f"{directory}/bench.db"
    open_store(path).close()  # created and migrated before the processes race for it
    out: Any = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(target=accept_in_threads, args=(args, path, out))
        for _ in range(args.procs)
    ]
    start = time.perf_counter()
    for proc in procs:
        proc.start()
    results = [out.get() for _ in procs]
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - start
    lat = sorted(x for latencies, _ in results for x in latencies)
    commits = sum(len(groups) for _, groups in results)
    done = len(lat)
    q = statistics.quantiles(lat, n=100)
    print(
        f"synchronous={args.synchronous} max_delay={args.max_delay} procs={args.procs}"
        f" threads={args.threads}{' ordered-ids' if args.ordered_ids else ''}: "
        f"{done} accepts in {elapsed:.2f} s = {done / elapsed:,.0f} accepts/s; "
        f"{commits} commits, {done / max(1, commits):.1f} per commit; "
        f"latency p50 {q[49] * 1000:.2f} ms p99 {q[98] * 1000:.2f} ms max {lat[-1] * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--threads", type=int, default=8, help="accepting threads per process")
    parser.add_argument(
        "--procs", type=int, default=1, help="writing processes, each with its own writer"
    )
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--max-delay", type=float, default=0.002)
    parser.add_argument("--max-batch", type=int, default=512)
    parser.add_argument("--ordered-ids", action="store_true")
    parser.add_argument("--dir", help="where to put the database (default: a temp dir)")
    args = parser.parse_args()
    if args.dir:
        run(args, args.dir)
    else:
        with tempfile.TemporaryDirectory() as directory:
            run(args, directory)


if __name__ == "__main__":
    main()

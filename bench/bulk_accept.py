"""Measure one big POST /smsbulk against the real daemon and the bundled simulator.

Starts a simulator (receipts off) and a gateway with a fresh SQLite store in a temp
directory, sends one bulk of N receivers, and prints:
- accept: the HTTP round trip of the bulk (compose every receiver, one store
  transaction, the JSON answer);
- all submitted: from sending the request until the simulator's /stats counts N
  submit_sm (what the SMPP side adds on top).

    .venv/bin/python bench/bulk_accept.py                     # 10,000 receivers
    .venv/bin/python bench/bulk_accept.py --count 10000 --sessions 2 --window 50
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from gateway.testing.process import GatewayProcess
from gateway.testing.simulator import SimulatorProcess


def run(count: int, sessions: int, window: int) -> dict[str, float]:
    to = [str(4917_0000_0000 + i) for i in range(count)]
    body = {"from": "MITTO SMS", "text": "Hello, World!", "to": to}
    with SimulatorProcess(receipt_delay=-1, keep_submits=0) as sim:
        workdir = Path(tempfile.mkdtemp(prefix="bulk-bench-"))
        with GatewayProcess(
            workdir,
            sim.port,
            http={"bulk_max_receivers": max(count, 1)},
            smpp={"sessions": sessions, "window": window},
        ) as gateway:
            started = time.perf_counter()
            response = gateway.request("POST", "/smsbulk", body)
            accepted = time.perf_counter() - started
            assert response.status == 200, response.body[:200]
            assert len(response.json()["messages"]) == count
            sim.wait_for(lambda s: s["submit_sm"] >= count, timeout=600)
            submitted = time.perf_counter() - started
    return {
        "receivers": count,
        "sessions": sessions,
        "window": window,
        "accept_seconds": round(accepted, 3),
        "all_submitted_seconds": round(submitted, 3),
        "submits_per_second": round(count / submitted, 1),
        "response_bytes": len(response.body),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    print(json.dumps(run(args.count, args.sessions, args.window)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

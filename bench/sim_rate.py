"""Measure how many submit_sm/s the bundled SMSC simulator answers.

A deliberately lean client (raw sockets + struct, no smpplib) so that the client
is not the bottleneck: it binds, keeps a large window of submit_sm in flight,
counts the submit_sm_resps and prints submits/s. `--procs N` runs N such clients
in parallel processes (each its own bind), `--spawn` starts a simulator itself.

    .venv/bin/python bench/sim_rate.py --spawn
    .venv/bin/python bench/sim_rate.py --spawn --procs 2
    .venv/bin/python bench/sim_rate.py --port 2775 --count 500000
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

HEADER = struct.Struct("!IIII")
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
SUBMIT_SM_RESP = 0x80000004
UNBIND = 0x00000006
ROOT = Path(__file__).resolve().parent.parent


def submit_body(registered_delivery: int) -> bytes:
    """A typical 1-part GSM submit_sm body, built once and reused."""
    return (
        b"\0"  # service_type
        + b"\x01\x0141790000001\0"  # source ton/npi/addr
        + b"\x01\x0141790000002\0"  # destination ton/npi/addr
        + b"\x00\x00\x00"  # esm_class, protocol_id, priority_flag
        + b"\0\0"  # schedule_delivery_time, validity_period
        + bytes((registered_delivery, 0, 0, 0))  # rd, replace, data_coding, default id
        + bytes((24,))
        + b"simulator benchmark text"
    )


def recv_pdu(sock: socket.socket) -> tuple[int, int, int, bytes]:
    head = _recv_exact(sock, 16)
    length, command, status, seq = HEADER.unpack(head)
    return command, status, seq, _recv_exact(sock, length - 16)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("simulator closed the connection")
        data += chunk
    return data


def bind(sock: socket.socket, system_id: str, password: str) -> None:
    body = system_id.encode() + b"\0" + password.encode() + b"\0" + b"\0" + b"\x34\x00\x00\0"
    sock.sendall(HEADER.pack(16 + len(body), BIND_TRANSMITTER, 0, 1) + body)
    _command, status, _seq, _body = recv_pdu(sock)
    if status:
        raise RuntimeError(f"bind refused with status 0x{status:02x}")


def pump(sock: socket.socket, count: int, window: int, body: bytes) -> tuple[int, int]:
    """Keep `window` submits in flight until `count` are answered; returns (ok, errors)."""
    length = 16 + len(body)
    pack = HEADER.pack
    unpack = HEADER.unpack_from
    sent = received = errors = 0
    buf = b""
    while received < count:
        refill = min(count - sent, window - (sent - received))
        if refill > 0:
            sock.sendall(
                b"".join(
                    pack(length, SUBMIT_SM, 0, s) + body for s in range(sent + 2, sent + 2 + refill)
                )
            )
            sent += refill
        data = sock.recv(1 << 20)
        if not data:
            raise ConnectionError(f"simulator closed after {received} responses")
        buf = buf + data if buf else data
        off = 0
        while len(buf) - off >= 16:
            pdu_len, command, status, _seq = unpack(buf, off)
            if len(buf) - off < pdu_len:
                break
            off += pdu_len
            if command == SUBMIT_SM_RESP:
                received += 1
                errors += status != 0
        buf = buf[off:]
    return received - errors, errors


def client(args: argparse.Namespace, port: int) -> tuple[float, float, int, int]:
    """One bound client; returns (start, end, ok, errors) with wall-clock times."""
    with socket.create_connection((args.host, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        bind(sock, args.system_id, args.password)
        start = time.time()
        ok, errors = pump(sock, args.count, args.window, submit_body(args.registered_delivery))
        end = time.time()
        sock.sendall(HEADER.pack(16, UNBIND, 0, 0x7FFFFFFF))
    return start, end, ok, errors


def _client_entry(job: tuple[argparse.Namespace, int]) -> tuple[float, float, int, int]:
    return client(*job)


def spawn_simulator(extra: list[str]) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, "-m", "gateway.simulator", "--port", "0", "--no-receipts", *extra]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = re.search(r"listening on [\d.]+:(\d+)", line)
    if not match:
        proc.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return proc, int(match.group(1))


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process from /proc (Linux), to show the simulator's core use."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2775)
    parser.add_argument("--count", type=int, default=200_000, help="submit_sm per client")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--procs", type=int, default=1, help="parallel client processes")
    parser.add_argument("--system-id", default="smppclient")
    parser.add_argument("--password", default=os.environ.get("SMSC_SIM_PASSWORD", "password"))
    parser.add_argument("--registered-delivery", type=int, default=0)
    parser.add_argument("--spawn", action="store_true", help="start a simulator (--no-receipts)")
    parser.add_argument("--sim-arg", action="append", default=[], help="extra simulator option")
    args = parser.parse_args(argv)
    proc, port = spawn_simulator(args.sim_arg) if args.spawn else (None, args.port)
    try:
        cpu_before = cpu_seconds(proc.pid) if proc else 0.0
        if args.procs == 1:
            results = [client(args, port)]
        else:
            with multiprocessing.Pool(args.procs) as pool:
                results = pool.map(_client_entry, [(args, port)] * args.procs)
        cpu_used = cpu_seconds(proc.pid) - cpu_before if proc else None
    finally:
        if proc:
            proc.terminate()
            proc.wait(timeout=10)
    report(results, cpu_used)
    return 0


def report(results: list[tuple[float, float, int, int]], cpu_used: float | None) -> None:
    start = min(r[0] for r in results)
    end = max(r[1] for r in results)
    ok = sum(r[2] for r in results)
    errors = sum(r[3] for r in results)
    elapsed = end - start
    print(f"clients={len(results)} ok={ok} errors={errors} elapsed={elapsed:.3f}s")
    print(f"submits/s={(ok + errors) / elapsed:,.0f}")
    if cpu_used is not None:
        print(f"simulator cpu={cpu_used:.2f}s ({cpu_used / elapsed:.0%} of one core)")


if __name__ == "__main__":
    sys.exit(main())

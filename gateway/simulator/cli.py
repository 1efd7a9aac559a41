"""Command line of the SMSC simulator (`python -m gateway.simulator`, `smpp-gateway smsc-sim`).

`add_arguments` + `run` let the gateway's own CLI mount this as a sub-command;
`main` is the standalone entry point.

Control API (JSON, 127.0.0.1 only, when --control-port is given):
  GET  /healthz, /stats, /config, /submits?since=K[&limit=N]
  POST /config {knob: value, ...}, /pause, /resume, /disconnect, /reset, /mo {...}
The manual, with every option and knob, is docs/simulator.md.
"""

from __future__ import annotations

import argparse
import os
import sys

from gateway.simulator.config import (
    HOSTILE_MODES,
    ID_FORMATS,
    RECEIPT_ID_FORMATS,
    TLS_MAX_VERSIONS,
    SimConfig,
    parse_receipt_states,
    random_first_id,
)


def _control_port(value: str) -> int | None:
    """0 disables the control port (as documented); "auto" picks a free one."""
    if value == "auto":
        return 0
    port = int(value)
    return port or None


def _status(value: str) -> int:
    return int(value, 0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """All simulator options; shared by the standalone and sub-command parsers."""
    net = parser.add_argument_group("listening")
    net.add_argument("--host", default="127.0.0.1", help="SMPP listen address")
    net.add_argument("--port", type=int, default=2775, help="SMPP port; 0 = ephemeral")
    net.add_argument(
        "--control-port", type=_control_port, default=None, metavar="PORT|auto",
        help="HTTP control port on 127.0.0.1; 0 = disabled (default), auto = ephemeral",
    )  # fmt: skip
    tls = parser.add_argument_group("TLS on the SMPP port")
    tls.add_argument("--tls-cert", default=None, metavar="FILE", help="PEM certificate: TLS on")
    tls.add_argument("--tls-key", default=None, metavar="FILE", help="its key (default: in cert)")
    tls.add_argument(
        "--tls-client-ca", default=None, metavar="FILE",
        help="require a client certificate signed by a CA in FILE",
    )  # fmt: skip
    tls.add_argument(
        "--tls-max-version", choices=TLS_MAX_VERSIONS, default="1.3",
        help="newest TLS version offered; 1.1 offers TLS 1.1 only (to test clients refuse it)",
    )  # fmt: skip
    auth = parser.add_argument_group("binds")
    auth.add_argument("--system-id", default="smppclient")
    auth.add_argument("--password", default=None, help="default $SMSC_SIM_PASSWORD or 'password'")
    auth.add_argument("--max-sessions", type=int, default=4, help="bound sessions allowed")
    auth.add_argument("--enquire-interval", type=float, default=0.0, help="seconds; 0 = never")
    ids = parser.add_argument_group("message ids and receipts")
    ids.add_argument("--first-id", type=int, default=None, help="first message id (random-ish)")
    ids.add_argument("--id-format", choices=ID_FORMATS, default="dec")
    ids.add_argument("--receipt-id-format", choices=RECEIPT_ID_FORMATS, default="same")
    ids.add_argument("--receipt-delay", type=float, default=0.2, help="seconds; <0 = none")
    ids.add_argument("--no-receipts", action="store_true", help="never send receipts")
    ids.add_argument(
        "--receipt-states", default="DELIVRD=100", metavar="STATE=W[:ERR],...",
        help='weighted state mix, e.g. "DELIVRD=90,UNDELIV=5,EXPIRED=3,REJECTD=2:009"',
    )  # fmt: skip
    ids.add_argument("--seed", type=int, default=1, help="seed of state and jitter draws")
    ids.add_argument("--receipt-before-resp", action="store_true", help="race: receipt first")
    ids.add_argument(
        "--redeliver-delay", type=float, default=1.0, metavar="SECONDS",
        help="re-send an unacknowledged deliver_sm after this (default 1)",
    )  # fmt: skip
    ids.add_argument(
        "--deliver-timeout", type=float, default=30.0, metavar="SECONDS",
        help="re-send a deliver_sm unanswered this long; 0 = wait for the link to fail",
    )  # fmt: skip
    ids.add_argument(
        "--ignore-deliver-resp", action="store_true", help="treat deliver_sm_resps as lost"
    )
    faults = parser.add_argument_group("fault injection (also via POST /config)")
    faults.add_argument("--throttle-every", type=int, default=0, metavar="N")
    faults.add_argument(
        "--throttle-rate", type=float, default=0.0, metavar="N",
        help="submit_sm/s for all sessions together, the rest ESME_RTHROTTLED; 0 = off",
    )  # fmt: skip
    faults.add_argument("--fail-every", type=int, default=0, metavar="N")
    faults.add_argument("--fail-status", type=_status, default=0x45, help="default 0x45")
    faults.add_argument("--close-after", type=int, default=0, metavar="N")
    faults.add_argument("--refuse-binds-for", type=float, default=0.0, metavar="SECONDS")
    faults.add_argument("--response-delay", type=float, default=0.0, metavar="SECONDS")
    faults.add_argument(
        "--response-jitter", type=float, default=0.0, metavar="SECONDS",
        help="hold each resp up to this much longer (random): they go out of order",
    )  # fmt: skip
    faults.add_argument("--pause", action="store_true", help="start with responses held")
    faults.add_argument("--hostile", choices=HOSTILE_MODES, default="off", help="misbehave")
    faults.add_argument(
        "--hostile-every", type=int, default=1, metavar="N", help="every Nth submit"
    )
    faults.add_argument(
        "--slow-byte-interval", type=float, default=1.0, metavar="SECONDS",
        help='--hostile slow writes one byte per interval (default 1)',
    )  # fmt: skip
    misc = parser.add_argument_group("observability")
    misc.add_argument("--pdu-log", default=None, metavar="FILE", help="JSON line per PDU")
    misc.add_argument("--keep-submits", type=int, default=100_000, help="decoded submits kept")


def config_from_args(args: argparse.Namespace) -> SimConfig:
    password = args.password
    if password is None:
        password = os.environ.get("SMSC_SIM_PASSWORD", "password")
    return SimConfig(
        host=args.host,
        port=args.port,
        control_port=args.control_port,
        system_id=args.system_id,
        password=password,
        max_sessions=args.max_sessions,
        first_id=random_first_id() if args.first_id is None else args.first_id,
        id_format=args.id_format,
        enquire_interval=args.enquire_interval,
        receipt_delay=-1.0 if args.no_receipts else args.receipt_delay,
        receipt_states=parse_receipt_states(args.receipt_states),
        receipt_id_format=args.receipt_id_format,
        receipt_before_resp=args.receipt_before_resp,
        seed=args.seed,
        throttle_every=args.throttle_every,
        throttle_rate=args.throttle_rate,
        fail_every=args.fail_every,
        fail_status=args.fail_status,
        close_after=args.close_after,
        refuse_binds_for=args.refuse_binds_for,
        response_delay=args.response_delay,
        response_jitter=args.response_jitter,
        paused=args.pause,
        pdu_log=args.pdu_log,
        keep_submits=args.keep_submits,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
        tls_max_version=args.tls_max_version,
        redeliver_delay=args.redeliver_delay,
        deliver_timeout=args.deliver_timeout,
        ignore_deliver_resp=args.ignore_deliver_resp,
        hostile=args.hostile,
        hostile_every=args.hostile_every,
        slow_byte_interval=args.slow_byte_interval,
    )


def run(args: argparse.Namespace) -> int:
    """Run the simulator until SIGTERM/SIGINT."""
    try:
        cfg = config_from_args(args)
    except ValueError as exc:
        print(f"smsc-sim: {exc}", file=sys.stderr)
        return 2
    try:
        import asyncio  # here: the daemon's CLI imports this module for its options only

        from gateway.simulator.server import serve

        return asyncio.run(serve(cfg))
    except KeyboardInterrupt:
        return 0
    except ValueError as exc:  # the TLS files
        print(f"smsc-sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"smsc-sim: cannot listen: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="smsc-sim", description="SMPP 3.4 SMSC simulator for tests and benchmarks"
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))

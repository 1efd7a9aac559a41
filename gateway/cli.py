"""`smpp-gateway`: run, smsc-sim, check-config."""

from __future__ import annotations

import argparse
import os
import sys


def _run(args: argparse.Namespace) -> int:
    from gateway.config import ConfigError, load_config
    from gateway.server import run

    try:
        cfg = load_config(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    return run(cfg)


def _check_config(args: argparse.Namespace) -> int:
    from gateway.config import check_config_command

    return check_config_command(args.file)


def _smsc_sim(args: argparse.Namespace) -> int:
    from gateway.simulator.cli import run

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    from gateway.simulator.cli import add_arguments

    parser = argparse.ArgumentParser(prog="smpp-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the gateway daemon (gunicorn, one worker)")
    run.add_argument(
        "--config",
        "-c",
        default=os.environ.get("SMPP_GATEWAY_CONFIG"),
        help="TOML config file (default: $SMPP_GATEWAY_CONFIG)",
    )
    run.set_defaults(func=_run)

    check = commands.add_parser("check-config", help="report every problem of a config file")
    check.add_argument("file")
    check.set_defaults(func=_check_config)

    sim = commands.add_parser("smsc-sim", help="run the bundled SMSC simulator")
    add_arguments(sim)
    sim.set_defaults(func=_smsc_sim)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

"""`smpp-gateway`: run, smsc-sim, check-config, webhooks."""

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


def _webhooks(args: argparse.Namespace) -> int:
    from gateway.config import ConfigError, load_config
    from gateway.webhooks import admin

    try:
        cfg = load_config(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    if args.webhooks_command == "list-dead":
        return admin.list_dead(cfg.store.path, limit=args.limit)
    if args.all == bool(args.ids):
        print("replay: name dead letter ids, or --all (not both)", file=sys.stderr)
        return 2
    return admin.replay(cfg.store.path, None if args.all else args.ids)


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

    hooks = commands.add_parser("webhooks", help="webhook dead letters: list and replay")
    hooks_commands = hooks.add_subparsers(dest="webhooks_command", required=True)
    dead = hooks_commands.add_parser("list-dead", help="list webhooks given up on")
    dead.add_argument("--limit", type=int, default=100, help="most rows shown (default 100)")
    again = hooks_commands.add_parser("replay", help="queue dead letters for delivery again")
    again.add_argument("ids", nargs="*", metavar="ID", help="outbox ids (see list-dead)")
    again.add_argument("--all", action="store_true", help="every dead letter")
    for sub in (dead, again):
        sub.add_argument(
            "--config",
            "-c",
            default=os.environ.get("SMPP_GATEWAY_CONFIG"),
            help="TOML config file (default: $SMPP_GATEWAY_CONFIG)",
        )
        sub.set_defaults(func=_webhooks)

    sim = commands.add_parser("smsc-sim", help="run the bundled SMSC simulator")
    add_arguments(sim)
    sim.set_defaults(func=_smsc_sim)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

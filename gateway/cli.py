"""`smpp-gateway`: run, status, migrate, smsc-sim, check-config, webhooks."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _load(args: argparse.Namespace) -> Any | None:
    """The config named by --config, or None after printing every problem."""
    from gateway.config_load import ConfigError, load_config

    try:
        return load_config(args.config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    from gateway.rundir import ENV, RunDir

    # First of all, before anything imports gateway.metrics (config checks do, through
    # the SMPP codec): prometheus_client picks multiprocess values when it is imported.
    rundir = RunDir.create()
    os.environ[ENV] = str(rundir.path)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(rundir.metrics)
    cfg = _load(args)
    if cfg is None:
        rundir.remove()
        return 2
    from gateway.server import run

    return run(cfg, rundir)


def _status(args: argparse.Namespace) -> int:
    from gateway.status import show_status

    cfg = _load(args)
    if cfg is None:
        return 2
    return show_status(cfg, args.timeout, args.client_cert, args.client_key)


def _migrate(args: argparse.Namespace) -> int:
    """Apply missing store migrations (SQLite file or PostgreSQL database) and exit."""
    from gateway.store import StoreError, migrate_store

    cfg = _load(args)
    if cfg is None:
        return 2
    try:
        applied = migrate_store(cfg.store.url or cfg.store.path)
    except StoreError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    print(f"applied migrations {applied}" if applied else "schema is up to date")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from gateway.config_load import check_config_command

    return check_config_command(args.file)


def _webhooks(args: argparse.Namespace) -> int:
    from gateway.webhooks import admin

    cfg = _load(args)
    if cfg is None:
        return 2
    if args.webhooks_command == "list-dead":
        return admin.list_dead(cfg.store.url or cfg.store.path, limit=args.limit)
    if args.all == bool(args.ids):
        print("replay: name dead letter ids, or --all (not both)", file=sys.stderr)
        return 2
    return admin.replay(cfg.store.url or cfg.store.path, None if args.all else args.ids)


def _opt_out(args: argparse.Namespace) -> int:
    from gateway import opt_out

    cfg = _load(args)
    if cfg is None:
        return 2
    where = cfg.store.url or cfg.store.path
    if args.opt_out_command == "list":
        return opt_out.list_entries(where, args.limit)
    if args.opt_out_command == "add":
        return opt_out.add_entry(where, args.sender, args.receiver, args.reason)
    return opt_out.remove_entry(where, args.sender, args.receiver)


def _new_key(args: argparse.Namespace) -> int:
    """A fresh key, shown once; the config names it by its hash only."""
    from gateway.clients import NAME_RULE, new_key, valid_name

    if not valid_name(args.name):
        print(f"new-key: a client name is {NAME_RULE}", file=sys.stderr)
        return 2
    key, lines = new_key(args.name)
    print(f"API key for client {args.name} (shown once; give it to that system):\n{key}\n")
    print(f"Add to the config (it holds the key's SHA-256 only):\n{lines}")
    return 0


def _smsc_sim(args: argparse.Namespace) -> int:
    from gateway.simulator.cli import run

    return run(args)


def _add_config_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        "-c",
        default=os.environ.get("SMPP_GATEWAY_CONFIG"),
        help="TOML config file (default: $SMPP_GATEWAY_CONFIG)",
    )


def build_parser() -> argparse.ArgumentParser:
    from gateway.simulator.cli import add_arguments

    parser = argparse.ArgumentParser(prog="smpp-gateway", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the daemon (HTTP workers, engine, dispatcher)")
    _add_config_argument(run)
    run.set_defaults(func=_run)

    status = commands.add_parser(
        "status", help="show sessions, queue and outbox of the running daemon (exit 1: not ready)"
    )
    _add_config_argument(status)
    status.add_argument("--timeout", type=float, default=5.0, help="seconds to wait (default 5)")
    status.add_argument(
        "--client-cert", help="PEM client certificate, when the API requires one (mutual TLS)"
    )
    status.add_argument("--client-key", help="its PEM key, unless --client-cert holds it")
    status.set_defaults(func=_status)

    migrate = commands.add_parser("migrate", help="apply missing store migrations and exit")
    _add_config_argument(migrate)
    migrate.set_defaults(func=_migrate)

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
        _add_config_argument(sub)
        sub.set_defaults(func=_webhooks)

    opt = commands.add_parser("opt-out", help="handsets that asked a number to stop")
    opt_commands = opt.add_subparsers(dest="opt_out_command", required=True)
    listed = opt_commands.add_parser("list", help="sender, receiver, when, why; newest first")
    listed.add_argument("--limit", type=int, default=100, help="most entries shown (default 100)")
    added = opt_commands.add_parser("add", help="refuse sends from SENDER to RECEIVER")
    removed = opt_commands.add_parser("remove", help="allow sends from SENDER to RECEIVER again")
    for sub in (added, removed):
        sub.add_argument("sender", help="our number (a send's `from`)")
        sub.add_argument("receiver", help="the handset (a send's `to`)")
    added.add_argument("--reason", default="added by an operator", help="kept with the entry")
    for sub in (listed, added, removed):
        _add_config_argument(sub)
        sub.set_defaults(func=_opt_out)

    clients = commands.add_parser("clients", help="calling systems and their API keys")
    clients_commands = clients.add_subparsers(dest="clients_command", required=True)
    key = clients_commands.add_parser("new-key", help="make an API key and print its config line")
    key.add_argument("name", help="the client's name ([clients.NAME])")
    key.set_defaults(func=_new_key)

    sim = commands.add_parser("smsc-sim", help="run the bundled SMSC simulator")
    add_arguments(sim)
    sim.set_defaults(func=_smsc_sim)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())

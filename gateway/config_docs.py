"""The files generated from the setting declarations in gateway/config.py.

config/gateway.example.toml and docs/configuration.md are rendered here and checked in;
tests/unit/test_config.py fails when they differ from what this module renders.
Regenerate them with:  python -m gateway.config --write-docs
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from gateway.config import ENV_PREFIX, SECTIONS, SETTINGS, Duration, Setting
from gateway.config_values import fmt

REGENERATE = "python -m gateway.config --write-docs"
SECTION_DOCS = {
    "http": "The HTTP API: gunicorn HTTP workers that buffer whole requests for their threads.",
    "smpp": "The SMPP binds to the provider's SMSC.",
    "store": "The message store (SQLite by default).",
    "webhooks": "Callbacks for delivery receipts and inbound messages.",
    "log": "Logging: one JSON object per line to stdout.",
}
TYPE_NAMES = {
    str: "string",
    int: "integer",
    float: "float",
    bool: "boolean",
    Duration: "duration (s)",
    list[str]: "list of strings",
}


def toml_value(value: Any) -> str:
    """A Python value in TOML syntax (strings as TOML basic strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def constraints(s: Setting) -> str:
    """What values are allowed, in words ("" when any value of the type is)."""
    if s.choices is not None:
        return "one of " + ", ".join(str(c) for c in s.choices)
    if s.min is not None and s.max is not None:
        return f"{fmt(s.min)}..{fmt(s.max)}"
    if s.min is not None:
        return f">= {fmt(s.min)}"
    if s.max is not None:
        return f"<= {fmt(s.max)}"
    return "> 0" if s.type is Duration else ""


def _secret_file_example(s: Setting) -> str:
    return f"/etc/smpp-gateway/{s.section}_{s.name}"


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, width=96, initial_indent="# ", subsequent_indent="# ")


def _header() -> list[str]:
    secrets = [s for s in SETTINGS if s.secret]
    width = max(len(s.env or "") for s in secrets) + len("_FILE")
    lines = [
        "# smpp-gateway configuration: every setting with its default.",
        "#",
        f"# Generated from gateway/config.py by `{REGENERATE}`;",
        "# change the declarations there, not this file. Copy it and keep what you change.",
        "# Check a file with `smpp-gateway check-config FILE`: it lists every problem at once.",
        "#",
        "# The environment overrides this file: every key has a variable",
        f"# {ENV_PREFIX}<SECTION>_<KEY>, e.g. {ENV_PREFIX}SMPP_WINDOW=20. Lists are",
        "# comma-separated there; booleans are true/false, yes/no, on/off or 1/0; durations are",
        '# seconds or a string like "250ms", "30s", "5m", "1h". An empty variable counts as unset.',
        "#",
        "# Secrets do not belong in this file. Give each one in the environment, or as a file:",
    ]
    for s in secrets:
        lines.append(f"#   {s.env:<{width}}  {s.key}")
    for s in secrets:
        lines.append(f"#   {s.file_env:<{width}}  a file holding {s.key}")
    lines += [
        "# or name the file in its section here (e.g. password_file in [smpp]; a relative name is",
        "# relative to this file's directory). Files suit systemd credentials and docker secrets.",
        f"# {ENV_PREFIX}HTTP_API_KEYS is comma-separated; an api_keys file holds one key",
        "# per line (blank lines and # comments are skipped). At least one API key is required.",
        "# Order: variable, variable *_FILE, value here, *_file here, default.",
    ]
    return lines


def render_example_toml() -> str:
    """The full example config file: every key with its doc, constraints, env name, default."""
    lines = _header()
    for section in SECTIONS:
        lines += ["", "", f"[{section}]", *_comment(SECTION_DOCS[section])]
        for s in SETTINGS:
            if s.section != section:
                continue
            lines.append("")
            lines += _comment(s.doc)
            if s.secret:
                unit = "one key per line" if s.type == list[str] else "its content, stripped"
                lines += _comment(
                    f"Secret: set {s.env}"
                    + (" (comma-separated)" if s.type == list[str] else "")
                    + f" or {s.file_env}, or name a file here ({unit}):"
                )
                lines.append(f"# {s.file_key} = {toml_value(_secret_file_example(s))}")
                continue
            notes = [n for n in (constraints(s), f"env {s.env}") if n]
            lines.append("# " + "; ".join(notes))
            lines.append(f"{s.name} = {toml_value(s.default)}")
    return "\n".join([*lines, "", "", *CLIENTS_EXAMPLE]) + "\n"


#: The [clients.NAME] tables (gateway/clients.py): not settings of a section, so written
#: out here, commented.
CLIENTS_EXAMPLE = (
    "# Clients: one table per calling system, each with its API keys and its own policy",
    "# (docs/clients.md). Without any, http.api_keys are the client `default`.",
    "# `smpp-gateway clients new-key crm` makes a key and prints the line with its hash.",
    "# [clients.crm]",
    '# api_keys = ["sha256:<64 hex digits>"]      # one, or two during a rotation',
    '# senders = ["Acme*"]                        # fnmatch patterns; empty: any',
    '# default_sender = "Acme"                    # when a request has no `from`',
    '# allowed_countries = ["DE", "AT"]           # ISO alpha-2 or alpha-3; empty: any',
    "# denied_countries = []",
    "# allowed_prefixes = []                      # E.164 digits",
    "# denied_prefixes = []",
    "# rate = 50.0                                # SMS parts per second; 0: no limit",
    "# burst = 50.0                               # parts at once (default: rate)",
    "# quota_day = 10000                          # SMS parts per UTC day; 0: none",
    "# quota_month = 200000                       # per UTC calendar month",
    '# callback_url = "https://crm.example/cb"    # its callbacks when a request names none',
    '# allowed_callback_hosts = ["crm.example"]   # per-message callbacks (else webhooks\')',
    '# account_name = "crm"                       # /usage/bycountry: this client only',
    "# signature_scheme = \"standard-webhooks\"     # its callbacks' signing (else webhooks')",
    '# webhook_secret_file = "/etc/smpp-gateway/credentials/crm-whsec"  # whsec_...',
    '# allowed_ips = ["10.0.0.0/8"]               # CIDRs; empty: any address',
)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown_table() -> str:
    """| key | env | type | default | description |, one row per setting."""
    rows = ["| key | env | type | default | description |", "|---|---|---|---|---|"]
    for s in SETTINGS:
        env = f"`{s.env}`"
        description = s.doc
        if s.secret:
            env += f"<br>`{s.file_env}`"
            default = "unset"
            description += f" Secret: from the environment or a file (`{s.file_key}`)."
        else:
            default = f"`{toml_value(s.default)}`"
        if constraints(s):
            description += f" Allowed: {constraints(s)}."
        type_name = TYPE_NAMES[s.type]
        cells = [f"`{s.key}`", env, type_name, default, description]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows) + "\n"


def render_configuration_md() -> str:
    """docs/configuration.md: how settings are given, then the table."""
    secrets = ", ".join(f"`{s.key}`" for s in SETTINGS if s.secret)
    return f"""# Configuration

<!-- Generated from gateway/config.py by `{REGENERATE}`; do not edit. -->

smpp-gateway reads one TOML file (`smpp-gateway run --config FILE`) and the environment.
Every setting is declared once, in `gateway/config.py`; this page and
`config/gateway.example.toml` (every key with its default and doc, a file to start from)
are generated from those declarations (`{REGENERATE}`) and a test
fails when they drift. `smpp-gateway check-config FILE` reports every problem of a file at
once, one per line with its key path, and exits 1 (0 and `ok: FILE` when there is none).

## The settings most installations change

Their defaults and limits are in the table below.

- `http.listen` and, for a Prometheus that must not reach the API port,
  `http.metrics_listen`.
- `smpp.host`, `smpp.port`, `smpp.system_id` and the secret `smpp.password`: the account.
- `smpp.sessions` (the provider allows 4 binds per account, summed over every daemon) and
  `smpp.bind_mode` (`transmitter_receiver` uses two binds per session); `smpp.window`
  (`submit_sm` outstanding per session); `smpp.enquire_link_interval`.
- `store.path` (the SQLite file), or `store.url` (a `postgresql://` URL for several daemons
  sharing one database; `smpp-gateway migrate` applies the schema); `store.retention`.
- `webhooks.default_callback_url`, `webhooks.allowed_callback_hosts` (per-message callbacks
  are refused until it lists your receivers) and `webhooks.inbound_url`.

## Where a value comes from

- The environment wins over the file, the file over the default. Every setting has a
  variable `{ENV_PREFIX}<SECTION>_<KEY>` (in the table below).
- In the environment, lists are comma-separated; booleans are `true`/`false`, `yes`/`no`,
  `on`/`off` or `1`/`0`; an empty variable counts as unset.
- Durations are seconds: a number, or a string such as `"250ms"`, `"30s"`, `"5m"`, `"1h"`.
- An unknown section or key in the file, or an unknown `{ENV_PREFIX}<SECTION>_*`
  variable, is an error, so a typo cannot pass silently.

## Secrets

The secrets are {secrets}.
They are never logged nor shown by `repr()`, and they do not belong in the file.
Give each one

- as its variable (the API keys variable is comma-separated),
- as a file named by its variable with `_FILE` appended, e.g.
  `{ENV_PREFIX}SMPP_PASSWORD_FILE` (systemd credentials, docker secrets),
- or as a file named by `<key>_file` in its section of the TOML file, e.g. `password_file`
  in `[smpp]` (a relative name is relative to the TOML file's directory).

A secret file's content is stripped; an API keys file holds one key per line, blank lines
and `#` comments skipped. The first source that is set wins: variable, `_FILE` variable,
value in the TOML file, `<key>_file` in the TOML file, default. At least one API key is
required.

## Settings

{render_markdown_table()}"""


GENERATED = {
    "config/gateway.example.toml": render_example_toml,
    "docs/configuration.md": render_configuration_md,
}


def write_generated_files(root: str | Path) -> list[Path]:
    """Write every generated file under the repository root `root`; the paths written."""
    written = []
    for name, render in GENERATED.items():
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(), encoding="utf-8", newline="\n")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.config", description=__doc__)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write-docs", action="store_true", help="write the generated files")
    group.add_argument("--example", action="store_true", help="print the example TOML")
    group.add_argument("--markdown", action="store_true", help="print the settings table")
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--root", default=str(root), help="checkout to write into (default: this)")
    args = parser.parse_args(argv)
    if args.example:
        sys.stdout.write(render_example_toml())
    elif args.markdown:
        sys.stdout.write(render_markdown_table())
    else:
        for path in write_generated_files(args.root):
            print(f"wrote {path}")
    return 0

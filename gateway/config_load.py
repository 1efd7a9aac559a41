"""Loading the configuration: TOML file + environment, secrets from files, every problem.

Precedence: environment > TOML > default. Secrets (secret=True) may also come from files:
env > env *_FILE > TOML value > TOML *_file > default. An empty environment variable
counts as unset. The declarations are in config.py; values are parsed and checked by
config_values.py.
"""

from __future__ import annotations

import difflib
import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from gateway import config_values as v
from gateway.clients import parse as parse_clients
from gateway.config import (
    BY_KEY,
    ENV_PREFIX,
    SECTION_CLASSES,
    SECTIONS,
    SETTINGS,
    Config,
    HttpSettings,
    LogSettings,
    Section,
    Setting,
    SmppSettings,
    StoreSettings,
    WebhooksSettings,
)
from gateway.webhooks import signing

S = TypeVar("S", bound=Section)


class ConfigError(ValueError):
    """Every problem found, each as "section.key: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# ---- loading --------------------------------------------------------------------------


def load_config(path: str | None, environ: Mapping[str, str] | None = None) -> Config:
    """Read the TOML file `path` (None: none) and `environ` (None: os.environ).

    Raises ConfigError listing every problem found, not just the first.
    """
    data: Mapping[str, Any] = {}
    if path is not None:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read config file: {exc.strerror}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: invalid TOML: {exc}"]) from None
    return build_config(data, environ, path=path)


def build_config(
    data: Mapping[str, Any], environ: Mapping[str, str] | None = None, *, path: str | None = None
) -> Config:
    """A Config from parsed TOML `data` ({section: {key: value}}) and the environment.

    load_config's second half; also the easy way to make a Config in a test.
    """
    env = os.environ if environ is None else environ
    base = Path(path).parent if path else Path(".")
    problems = _unknown_keys(data) + _unknown_env(env)
    values: dict[str, Any] = {}
    for s in SETTINGS:
        table = data.get(s.section)
        try:
            values[s.key] = _resolve(s, table if isinstance(table, Mapping) else {}, env, base)
        except v.Problem as exc:
            problems.append(f"{s.key}: {exc}")
    clients, client_problems = parse_clients(data.get("clients"), values.get("http.api_keys", ()))
    client_problems += [
        f"clients.{c.name}.signature_scheme: standard-webhooks signs the body: set"
        " webhooks.method = POST"
        for c in clients
        if c.signature_scheme == "standard-webhooks" and values.get("webhooks.method") != "POST"
    ]
    problems += client_problems + _cross_checks(values, has_clients=bool(clients))
    if problems:
        raise ConfigError(problems)
    return Config(
        clients=clients,
        http=_section(HttpSettings, values),
        smpp=_section(SmppSettings, values),
        store=_section(StoreSettings, values),
        webhooks=_section(WebhooksSettings, values),
        log=_section(LogSettings, values),
        path=path,
    )


def _section(cls: type[S], values: Mapping[str, Any]) -> S:
    """One section's object from the resolved values ("section.name" -> value)."""
    name = next(section for section, known in SECTION_CLASSES.items() if known is cls)
    return cls(**{s.name: values[s.key] for s in SETTINGS if s.section == name})


def _hint(name: str, known: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _key_hint(key: str, known: list[str]) -> str:
    """host_file names no setting, but host does: suggest it before similar file keys."""
    base = key.removesuffix("_file")
    return f" (did you mean {base!r}?)" if base != key and base in known else _hint(key, known)


def _unknown_keys(data: Mapping[str, Any]) -> list[str]:
    problems = []
    for section, table in data.items():
        if section == "clients":  # tables of their own (clients.py checks them)
            continue
        if section not in SECTIONS:
            problems.append(f"{section}: unknown section{_hint(section, SECTIONS)}")
        elif not isinstance(table, Mapping):
            problems.append(f"{section}: expected a [{section}] table")
        else:
            ours = [s for s in SETTINGS if s.section == section]
            known = [s.name for s in ours] + [s.file_key for s in ours if s.secret]
            problems += [
                f"{section}.{key}: unknown key{_key_hint(key, known)}"
                for key in table
                if key not in known
            ]
    return problems


def _unknown_env(env: Mapping[str, str]) -> list[str]:
    """SMPP_GATEWAY_<SECTION>_* variables that name no setting: a typo must not pass."""
    known = {s.env for s in SETTINGS} | {s.file_env for s in SETTINGS if s.secret}
    problems = []
    for name in sorted(env):
        for section in SECTIONS:
            prefix = f"{ENV_PREFIX}{section.upper()}_"
            if name.startswith(prefix) and name not in known:
                key = f"{section}.{name[len(prefix) :].lower()}"
                names = [s.env for s in SETTINGS if s.section == section]
                hint = _hint(name, names).replace("did you mean", "did you mean variable")
                problems.append(f"{key}: unknown setting (environment variable {name}){hint}")
    return problems


def _resolve(s: Setting, table: Mapping[str, Any], env: Mapping[str, str], base: Path) -> Any:
    """The setting's value from the first source that has one (see the module doc)."""
    assert s.env is not None
    origin = ""
    try:
        if env.get(s.env, ""):
            origin = f"from {s.env}"
            value = v.from_text(s, env[s.env])
        elif s.secret and env.get(s.file_env, ""):
            origin = f"from {s.file_env}"
            value = v.read_secret_file(s, env[s.file_env], Path("."))
        elif s.name in table:
            value = v.from_toml(s, table[s.name])
            if s.path and value:
                value = str(base / value)
        elif s.secret and s.file_key in table:
            origin = f"from {s.section}.{s.file_key}"
            value = v.read_secret_file(s, table[s.file_key], base)
        else:
            return s.default
        return v.check(s, value)
    except v.Problem as exc:
        raise v.Problem(f"{exc} ({origin})" if origin else str(exc)) from None


def _cross_checks(values: Mapping[str, Any], has_clients: bool) -> list[str]:
    """Rules between settings; only settings that parsed take part."""
    problems = []
    keys = BY_KEY["http.api_keys"]
    if "http.api_keys" in values and not values["http.api_keys"] and not has_clients:
        problems.append(
            f"http.api_keys: API keys required; set {keys.env} (comma-separated), "
            f"{keys.file_env}, or {keys.file_key} in [http] (a file with one key per line),"
            " or give each calling system its own keys in a [clients.NAME] table"
        )
    for low, high in [
        ("smpp.reconnect_min_delay", "smpp.reconnect_max_delay"),
        ("smpp.retry_min_delay", "smpp.retry_max_delay"),
    ]:
        if low in values and high in values and values[low] > values[high]:
            problems.append(
                f"{low}: must be <= {high} ({v.fmt(values[low])} > {v.fmt(values[high])})"
            )
    problems += _standard_webhooks_problems(values)
    tls = ("http.tls_certificate", "http.tls_key", "http.tls_client_ca")
    if all(key in values for key in tls):
        problems += _tls_problems(*(values[key] for key in tls))
    return problems + _tls_checks(values)


def _standard_webhooks_problems(values: Mapping[str, Any]) -> list[str]:
    """The Standard Webhooks scheme signs a body with a whsec_ key: a GET has no body
    (its parameters would go unsigned), and any other secret is not such a key."""
    if values.get("webhooks.signature_scheme") != "standard-webhooks":
        return []
    problems = []
    if values.get("webhooks.method") != "POST":
        problems.append(
            "webhooks.signature_scheme: standard-webhooks signs the body: set"
            " webhooks.method = POST"
        )
    secret = values.get("webhooks.secret", "")
    if secret and signing.standard_key(secret) is None:
        problems.append(
            "webhooks.secret: standard-webhooks needs whsec_ followed by 24 to 64 bytes in base64"
        )
    return problems


def _tls_checks(values: Mapping[str, Any]) -> list[str]:
    """smpp.tls_*: ignored settings are a mistake; with TLS on, the context must build."""
    keys = [s.key for s in SETTINGS if s.key.startswith("smpp.tls")]
    if any(key not in values for key in keys):
        return []  # a parse problem is listed already
    if not values["smpp.tls"]:
        return [
            f"{key}: has no effect while smpp.tls is false"
            for key in keys
            if key != "smpp.tls" and values[key] != BY_KEY[key].default
        ]
    from gateway.smpp.tls import TlsConfigError, TlsSettings, client_context

    settings = TlsSettings(
        **{key.removeprefix("smpp.tls_"): values[key] for key in keys if key != "smpp.tls"}
    )
    try:
        client_context(settings)
    except TlsConfigError as exc:
        return [f"smpp.{exc.setting}: {exc}"]
    return []


def _tls_problems(certificate: str, key: str, client_ca: str) -> list[str]:
    """http.tls_*: both halves of the pair, which load and match; a CA that loads.

    Building the HTTP workers' context here makes `check-config` (and a start) fail on
    what would otherwise only fail in each HTTP worker as it boots, after the engine may
    have bound (gunicorn then halts the daemon)."""
    if not certificate:
        given = "http.tls_key" if key else "http.tls_client_ca" if client_ca else ""
        return [f"http.tls_certificate: required with {given}"] if given else []
    if not key:
        return ["http.tls_key: required with http.tls_certificate (tls_key_file names the file)"]
    from gateway.http_worker.tls import TlsSetupError, server_context

    try:
        server_context(certificate, key, client_ca)
    except TlsSetupError as exc:
        return [f"http.{exc.setting}: {exc}"]
    return []


# ---- using it -------------------------------------------------------------------------


def check_config(path: str, environ: Mapping[str, str] | None = None) -> list[str]:
    """The problems of a config file with this environment; [] when it is fine."""
    try:
        load_config(path, environ)
    except ConfigError as exc:
        return exc.problems
    return []


def check_config_command(path: str, environ: Mapping[str, str] | None = None) -> int:
    """`smpp-gateway check-config FILE`: each problem on stderr and 1, or "ok: FILE" and 0."""
    problems = check_config(path, environ)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {path}")
    return 0


def config_summary(cfg: Config) -> dict[str, Any]:
    """Flat {"section.key": value} for a startup log line; secrets as "***" or "unset"."""
    summary: dict[str, Any] = {"path": cfg.path}
    for s in SETTINGS:
        value = getattr(getattr(cfg, s.section), s.name)
        if s.secret:
            summary[s.key] = "***" if value else "unset"
        else:
            summary[s.key] = list(value) if isinstance(value, tuple) else value
    return summary

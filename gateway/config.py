"""Typed settings from TOML + environment; secrets from the environment or a file.

Every setting is declared once, in SETTINGS below, as gunicorn declares its settings.
The loader, the example TOML and the Markdown table (gateway/config_docs.py) all derive
from those declarations; a test fails when the checked-in generated files drift.

Precedence: environment > TOML > default. Secrets (secret=True) may also come from files:
env > env *_FILE > TOML value > TOML *_file > default. An empty environment variable
counts as unset. Secret values are plain strings on the Config but never appear in
repr(), str() or config_summary().
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway import config_values as v
from gateway import lifecycle
from gateway.config_values import Duration, parse_listen  # noqa: F401 (re-exported)

ENV_PREFIX = "SMPP_GATEWAY_"
NPI_VALUES = (0, 1, 3, 4, 6, 8, 9, 10, 14, 18)


class ConfigError(ValueError):
    """Every problem found, each as "section.key: message"."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


@dataclass(frozen=True)
class Setting:
    """One setting. `type` is str, int, float, bool, list[str] or Duration."""

    section: str
    name: str
    type: Any
    default: Any
    doc: str
    secret: bool = dataclasses.field(default=False, kw_only=True)
    choices: tuple[Any, ...] | None = dataclasses.field(default=None, kw_only=True)
    min: float | None = dataclasses.field(default=None, kw_only=True)  # Duration: > 0 if None
    max: float | None = dataclasses.field(default=None, kw_only=True)
    env: str | None = dataclasses.field(default=None, kw_only=True)
    # a file name: a relative one given in the TOML file is relative to that file's directory
    path: bool = dataclasses.field(default=False, kw_only=True)
    # a further check of a parsed value: returns a message, or None when the value is fine
    validate: Callable[[Any], str | None] | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if self.env is None:
            object.__setattr__(self, "env", f"{ENV_PREFIX}{self.section}_{self.name}".upper())

    @property
    def key(self) -> str:
        return f"{self.section}.{self.name}"

    @property
    def file_key(self) -> str:
        return f"{self.name}_file"

    @property
    def file_env(self) -> str:
        return f"{self.env}_FILE"


def _readable_file(value: str) -> str | None:
    """Empty, or a file this process can read (relative: to the working directory)."""
    if not value:
        return None
    try:
        with open(value, "rb"):
            return None
    except OSError as exc:
        return f"cannot read {value!r}: {exc.strerror}"


# fmt: off
S = Setting
SETTINGS: tuple[Setting, ...] = (
    # [http]
    S("http", "listen", str, "127.0.0.1:8080",
      "Address the HTTP API listens on, host:port ([::1]:8080 for IPv6); loopback by default.",
      validate=v.listen),
    S("http", "metrics_listen", str, "",
      "Extra listener serving only /metrics, host:port (no API key); empty: /metrics on the "
      "API port only.", validate=v.optional_listen),
    S("http", "threads", int, 32,
      "Request threads of the HTTP worker; they only ever run whole, buffered requests.",
      min=1, max=1024),
    S("http", "max_body_bytes", int, 1_048_576,
      "Largest request body accepted, in bytes; a larger one is answered 413 (by "
      "Content-Length before it is sent, chunked as soon as it grows past).", min=1),
    S("http", "request_read_timeout", Duration, 10.0,
      "A request must be whole this long after its first byte (a new connection: its first "
      "byte, TLS handshake included, this long after connecting); else 408 and closed."),
    S("http", "max_connections", int, 1000,
      "Connections the HTTP worker holds open at once (reading, served, idle); at the cap new "
      "ones wait in the kernel's listen backlog until one closes.", min=1, max=100_000),
    S("http", "tls_certificate", str, "",
      "PEM certificate chain (leaf first): the API then serves HTTPS only, TLS 1.2+; empty: "
      "plain HTTP. A relative name is relative to this file's directory.",
      path=True, validate=_readable_file),
    S("http", "tls_key", str, "",
      "Unencrypted PEM private key of tls_certificate: give it as tls_key_file (or "
      "SMPP_GATEWAY_HTTP_TLS_KEY_FILE), a file only the daemon can read.", secret=True),
    S("http", "tls_client_ca", str, "",
      "PEM CA certificates for mutual TLS: when set, every client must present a "
      "certificate they signed. Relative to this file's directory.",
      path=True, validate=_readable_file),
    S("http", "validation_http_status", int, 200,
      "HTTP status of answers with responseCode 2-8 (the provider answers 200).",
      choices=(200, 400)),
    S("http", "api_keys", list[str], (),
      "API keys accepted in X-Mitto-API-Key or Authorization: Bearer; at least one is required.",
      secret=True),
    S("http", "timeout", Duration, 30.0,
      "gunicorn worker timeout: a worker silent this long is killed and restarted."),
    S("http", "graceful_timeout", Duration, 30.0,
      "Time the worker gets after SIGTERM to finish requests, drain and unbind."),
    S("http", "max_message_parts", int, 10,
      "Most SMS parts one message may need; a longer text is answered 400.", min=1, max=255),
    S("http", "bulk_max_receivers", int, 10_000,
      "Most receivers one POST /smsbulk may name; more is answered 400.", min=1, max=1_000_000),
    S("http", "idempotency_window", Duration, 86_400.0,
      "How long an Idempotency-Key is remembered: a repeat within it gets the first answer."),
    S("http", "conversion_tracking", bool, True,
      "Accept POST /sms/converted; when false it answers 400, as the provider does."),
    S("http", "conversion_rate", float, 10.0,
      "POST /sms/converted requests per second allowed per API key (token bucket); more: 429.",
      min=0.001),
    S("http", "conversion_burst", int, 20,
      "Requests one API key may make at once before conversion_rate applies.", min=1),
    S("http", "account_name", str, "default",
      "Account name of every API key: POST /usage/bycountry must give it as accountName.",
      validate=v.non_empty),
    # [smpp]
    S("smpp", "host", str, "127.0.0.1", "SMSC host name or address.", validate=v.non_empty),
    S("smpp", "port", int, 2775, "SMSC TCP port.", min=1, max=65535),
    S("smpp", "system_id", str, "smppclient",
      "system_id sent in the bind (the account name): 1-15 printable ASCII characters.",
      validate=v.bind_field("system_id", required=True)),
    S("smpp", "password", str, "",
      "Password sent in the bind: at most 8 printable ASCII characters (SMPP 3.4); an empty "
      "one is sent as is and the SMSC will refuse the bind.",
      secret=True, validate=v.bind_field("password")),
    S("smpp", "system_type", str, "",
      "system_type sent in the bind; usually empty; at most 12 printable ASCII characters.",
      validate=v.bind_field("system_type")),
    S("smpp", "tls", bool, False,
      "Connect to the SMSC over TLS (the provider gives a TLS port); the tls_* keys apply "
      "only then."),
    S("smpp", "tls_ca_file", str, "",
      "PEM file of the CA certificates the SMSC's certificate must chain to; empty: the "
      "system's CAs. A relative name is relative to this file's directory.", path=True),
    S("smpp", "tls_verify_hostname", bool, True,
      "Check that the SMSC's certificate names smpp.host (or tls_server_name). false is "
      "UNSAFE: any certificate from a trusted CA then passes, so anyone can pose as the SMSC."),
    S("smpp", "tls_server_name", str, "",
      "Host name the SMSC's certificate must carry (also sent as SNI); empty: smpp.host.",
      validate=v.host_name),
    S("smpp", "tls_cert_file", str, "",
      "PEM client certificate (and chain) for an SMSC that requires one; empty: none. "
      "Relative to this file's directory.", path=True),
    S("smpp", "tls_key", str, "",
      "Unencrypted PEM private key of tls_cert_file; empty: the key is in tls_cert_file.",
      secret=True),
    S("smpp", "tls_min_version", str, "1.2",
      "Oldest TLS version accepted: 1.2 or 1.3.", choices=("1.2", "1.3")),
    S("smpp", "bind_mode", str, "transceiver",
      "transceiver (one bind per session) or transmitter_receiver (two binds per session).",
      choices=("transceiver", "transmitter_receiver")),
    S("smpp", "sessions", int, 1,
      "SMPP sessions kept bound at once (the provider allows up to 4).", min=1, max=16),
    S("smpp", "window", int, 10,
      "Unanswered submit_sm allowed per session at once.", min=1, max=1000),
    S("smpp", "response_timeout", Duration, 10.0,
      "Time to wait for a PDU's response before it counts as lost; an unanswered submit_sm "
      "is retried and its link dropped and rebound."),
    S("smpp", "enquire_link_interval", Duration, 30.0,
      "A link silent this long is dead and rebound; enquire_link probes after half of it."),
    S("smpp", "reconnect_min_delay", Duration, 1.0,
      "First delay before rebinding after a lost or refused bind; doubles per failure."),
    S("smpp", "reconnect_max_delay", Duration, 10.0,
      "Longest delay between rebind attempts: after an outage, sending resumes at most this "
      "long after the SMSC is back."),
    S("smpp", "retry_min_delay", Duration, 1.0,
      "First delay before resubmitting after a temporary SMSC error; doubles per try."),
    S("smpp", "retry_max_delay", Duration, 60.0, "Longest delay between resubmit attempts."),
    S("smpp", "throttle_pause", Duration, 1.0,
      "How long a session stops submitting after ESME_RTHROTTLED."),
    S("smpp", "gsm_charset", str, "gsm",
      "Character set the SMSC means by data_coding 0: gsm (GSM 03.38), latin1 or ascii.",
      choices=("gsm", "latin1", "ascii")),
    S("smpp", "registered_delivery", int, 1,
      "Receipts requested: 0 none, 1 on success and failure, 2 on failure only.",
      choices=(0, 1, 2)),
    S("smpp", "default_validity_minutes", int, 2880,
      "Validity period of a message whose request gives none, in minutes (at most 14 days).",
      min=1, max=20160),
    S("smpp", "alnum_sender_ton", int, 5,
      "source_addr_ton for alphanumeric senders (5 alphanumeric).", min=0, max=6),
    S("smpp", "alnum_sender_npi", int, 0,
      "source_addr_npi for alphanumeric senders (0 unknown).", choices=NPI_VALUES),
    S("smpp", "numeric_sender_ton", int, 1,
      "source_addr_ton for numeric senders (1 international).", min=0, max=6),
    S("smpp", "numeric_sender_npi", int, 1,
      "source_addr_npi for numeric senders (1 E.164).", choices=NPI_VALUES),
    S("smpp", "dest_addr_ton", int, 1, "dest_addr_ton of recipients (1 international).",
      min=0, max=6),
    S("smpp", "dest_addr_npi", int, 1, "dest_addr_npi of recipients (1 E.164).",
      choices=NPI_VALUES),
    S("smpp", "stop_grace", Duration, 10.0,
      "Time to wait at stop for responses to submits in flight; 0 does not wait.", min=0.0),
    # [store]
    S("store", "path", str, "var/gateway.db",
      "SQLite database file, relative to the working directory (used when store.url is empty).",
      validate=v.non_empty),
    S("store", "url", str, "",
      "Store URL: postgresql://user@host/db (several daemons) or sqlite:///path; empty: "
      "SQLite at store.path (may carry a password).", secret=True,
      validate=v.store_url),
    S("store", "migrate_on_start", bool, True,
      "Apply missing migrations at start; false: refuse to start until `smpp-gateway migrate`."),
    S("store", "pool_size", int, 4,
      "PostgreSQL: read connections per daemon (the writer and LISTEN use one more each).",
      min=1, max=64),
    S("store", "writers", int, 1,
      "PostgreSQL: write connections per daemon; more overlap round trips to a remote server.",
      min=1, max=32),
    S("store", "claim_lease", Duration, 30.0,
      "PostgreSQL: a claim lasts this long unless renewed; a dead daemon's claims are "
      "taken over after it (messages in flight then may be sent twice).", min=1.0),
    S("store", "retention", Duration, 7_776_000.0,
      "Delete finished messages and delivered webhooks older than this (90 days: usage "
      "reports and conversions see no further back); 0 keeps all.",
      min=0.0),
    S("store", "retention_batch", int, 500,
      "Most rows of each kind one retention pass deletes (once a second, short transactions).",
      min=1, max=100_000),
    S("store", "commit_max_batch", int, 512,
      "Most writes the store writer commits in one transaction.", min=1, max=100_000),
    S("store", "commit_max_delay", Duration, 0.002,
      "Longest a write waits for others to share its commit; 0 commits at once.", min=0.0),
    # [webhooks]
    S("webhooks", "default_callback_url", str, "",
      "Callback URL for receipts and inbound messages when a request names none; empty: none.",
      validate=v.http_url),
    S("webhooks", "allowed_callback_hosts", list[str], (),
      "Hosts a request's callback URL may name: host, host:port, or *.example.com for "
      "subdomains; empty (the default): per-message callbacks are refused.",
      validate=v.callback_hosts),
    S("webhooks", "secret", str, "",
      "HMAC key that signs callbacks (signature header); empty: callbacks are not signed.",
      secret=True),
    S("webhooks", "method", str, "GET",
      "HTTP method of callbacks and inbound posts: GET (parameters in the query) or POST.",
      choices=("GET", "POST")),
    S("webhooks", "post_format", str, "json",
      "Body of a POST without a body template: json or form (urlencoded).",
      choices=("json", "form")),
    S("webhooks", "body_template", str, "",
      "POST body template for callbacks with <name>, $name$ or ~name~ placeholders; empty: none."),
    S("webhooks", "body_content_type", str, "application/json",
      "Content-Type of a body built from a template.", validate=v.non_empty),
    S("webhooks", "notify_statuses", list[str], lifecycle.NOTIFIABLE,
      "States that get a callback when a request gives no deliveryStatusesToNotify.",
      validate=v.no_empty_items),
    S("webhooks", "inbound_url", str, "",
      "URL that receives inbound (MO) messages; empty: they are kept but not posted.",
      validate=v.http_url),
    S("webhooks", "inbound_body_template", str, "",
      "POST body template for inbound messages (coding, sender, content, receiver, msgid)."),
    S("webhooks", "concurrency", int, 32,
      "Webhook requests in flight at once (threads and keep-alive connections).",
      min=1, max=256),
    S("webhooks", "timeout", Duration, 10.0, "Time a receiver gets to answer one request."),
    S("webhooks", "retry_min_delay", Duration, 1.0,
      "First delay before retrying a failed webhook; doubles per try, with jitter."),
    S("webhooks", "retry_max_delay", Duration, 600.0, "Longest delay between webhook retries."),
    S("webhooks", "max_age", Duration, 172800.0,
      "Retry a webhook this long (48 h, the provider's validity default), then dead-letter it."),
    S("webhooks", "mo_reassembly_timeout", Duration, 60.0,
      "Time to wait for the missing parts of an inbound message before posting what came."),
    # [log]
    S("log", "level", str, "info", "Log level.", choices=("debug", "info", "warning", "error")),
    S("log", "format", str, "json",
      "json: one JSON object per line (for journald and shippers); text: readable lines.",
      choices=("json", "text")),
    S("log", "access_log", bool, False,
      "Log every HTTP request (method, path without query, status, duration); off by "
      "default, as in gunicorn: it costs ~6% of the CPU of a send."),
    S("log", "pdu_debug", bool, False,
      "Log every SMPP PDU in and out (command, sequence, status; never a body) at debug "
      "level, whatever log.level is (noisy; for troubleshooting)."),
)
del S
# fmt: on

SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(s.section for s in SETTINGS))
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


# ---- the Config objects ---------------------------------------------------------------


def _section_repr(self: Any) -> str:
    parts = []
    for s in SETTINGS:
        if s.section == self._section:
            value = getattr(self, s.name)
            shown = ("<secret>" if value else "<unset>") if s.secret else repr(value)
            parts.append(f"{s.name}={shown}")
    return f"{type(self).__name__}({', '.join(parts)})"


def _section_class(section: str) -> type:
    """A frozen dataclass with one attribute per setting of the section."""
    annotations = {list[str]: tuple[str, ...], Duration: float}
    fields = [
        (s.name, annotations.get(s.type, s.type), dataclasses.field(repr=not s.secret))
        for s in SETTINGS
        if s.section == section
    ]
    namespace = {"_section": section, "__repr__": _section_repr, "__module__": __name__}
    name = f"{section.capitalize()}Settings"
    return dataclasses.make_dataclass(name, fields, frozen=True, repr=False, namespace=namespace)


SECTION_CLASSES: dict[str, type] = {section: _section_class(section) for section in SECTIONS}
HttpSettings, SmppSettings, StoreSettings, WebhooksSettings, LogSettings = SECTION_CLASSES.values()


@dataclass(frozen=True)
class Config:
    """The whole configuration: one frozen object per section, plus the source file."""

    http: Any  # HttpSettings etc.: classes made from SETTINGS, so typed Any here
    smpp: Any
    store: Any
    webhooks: Any
    log: Any
    path: str | None = None


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
    problems += _cross_checks(values)
    if problems:
        raise ConfigError(problems)
    sections = {
        section: cls(**{s.name: values[s.key] for s in SETTINGS if s.section == section})
        for section, cls in SECTION_CLASSES.items()
    }
    return Config(**sections, path=path)


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


def _cross_checks(values: Mapping[str, Any]) -> list[str]:
    """Rules between settings; only settings that parsed take part."""
    problems = []
    keys = BY_KEY["http.api_keys"]
    if "http.api_keys" in values and not values["http.api_keys"]:
        problems.append(
            f"http.api_keys: API keys required; set {keys.env} (comma-separated), "
            f"{keys.file_env}, or {keys.file_key} in [http] (a file with one key per line)"
        )
    tls = ("http.tls_certificate", "http.tls_key", "http.tls_client_ca")
    if all(key in values for key in tls):
        problems += _tls_problems(*(values[key] for key in tls))
    for low, high in [
        ("smpp.reconnect_min_delay", "smpp.reconnect_max_delay"),
        ("smpp.retry_min_delay", "smpp.retry_max_delay"),
    ]:
        if low in values and high in values and values[low] > values[high]:
            problems.append(
                f"{low}: must be <= {high} ({v.fmt(values[low])} > {v.fmt(values[high])})"
            )
    return problems + _tls_checks(values)


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

    Building the worker's context here makes `check-config` (and a start) fail on what
    would otherwise only fail in the worker, after the store and the SMPP binds are up."""
    if not certificate:
        given = "http.tls_key" if key else "http.tls_client_ca" if client_ca else ""
        return [f"http.tls_certificate: required with {given}"] if given else []
    if not key:
        return ["http.tls_key: required with http.tls_certificate (tls_key_file names the file)"]
    from gateway.http_worker import TlsSetupError, server_context

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


# Rendering lives in gateway/config_docs.py; these are the public names.


def render_example_toml() -> str:
    """The full example config file: every key with its doc and default."""
    from gateway.config_docs import render_example_toml as render

    return render()


def render_markdown_table() -> str:
    """| key | env | type | default | description |, one row per setting."""
    from gateway.config_docs import render_markdown_table as render

    return render()


def write_generated_files(root: str | Path) -> list[Path]:
    """Write config/gateway.example.toml and docs/configuration.md under `root`."""
    from gateway.config_docs import write_generated_files as write

    return write(root)


if __name__ == "__main__":
    from gateway.config_docs import main

    sys.exit(main())

"""Typed settings: one frozen dataclass per section, each setting declared once.

Every setting is one field of its section's class, declared with `setting()`: its type
(the annotation), default, one line of doc, and how a value is checked, as gunicorn
declares its settings. The loader (config_load.py), the example TOML and the Markdown
table (config_docs.py) all derive from these declarations, and a test fails when the
checked-in generated files drift. Components take their section (e.g. `cfg.smpp`) and
keep no defaults of their own. Secret values are plain strings on the Config but never
appear in repr(), str() or config_summary().
"""

from __future__ import annotations

import dataclasses
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from gateway import config_values as v
from gateway import lifecycle
from gateway.clients import Client
from gateway.config_values import Duration

ENV_PREFIX = "SMPP_GATEWAY_"
NPI_VALUES = (0, 1, 3, 4, 6, 8, 9, 10, 14, 18)

#: A duration setting: seconds as a float, given as a number or "250ms", "30s", "5m", "1h".
Seconds = Annotated[float, Duration]


@dataclass(frozen=True)
class Setting:
    """One setting as the loader and the docs see it. `type` is str, int, float, bool,
    list[str] or Duration."""

    section: str
    name: str
    type: Any
    default: Any
    doc: str
    secret: bool = dataclasses.field(default=False, kw_only=True)
    choices: tuple[Any, ...] | None = dataclasses.field(default=None, kw_only=True)
    min: float | None = dataclasses.field(default=None, kw_only=True)  # Duration: > 0 if None
    max: float | None = dataclasses.field(default=None, kw_only=True)
    env: str = dataclasses.field(default="", kw_only=True)  # "": SMPP_GATEWAY_<SECTION>_<NAME>
    # a file name: a relative one given in the TOML file is relative to that file's directory
    path: bool = dataclasses.field(default=False, kw_only=True)
    # a further check of a parsed value: returns a message, or None when the value is fine
    validate: Callable[[Any], str | None] | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        if not self.env:
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


def setting(
    default: Any,
    doc: str,
    *,
    secret: bool = False,
    choices: tuple[Any, ...] | None = None,
    min: float | None = None,
    max: float | None = None,
    env: str = "",
    path: bool = False,
    validate: Callable[[Any], str | None] | None = None,
) -> Any:
    """A section field's declaration: default, doc and checks in one place."""
    meta = {"doc": doc, "secret": secret, "choices": choices, "min": min, "max": max}
    meta |= {"env": env, "path": path, "validate": validate}
    return dataclasses.field(default=default, repr=not secret, metadata={"setting": meta})


class Section:
    """A section's repr names its settings and hides the values of secrets."""

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            secret = f.metadata["setting"]["secret"]
            shown = ("<secret>" if value else "<unset>") if secret else repr(value)
            parts.append(f"{f.name}={shown}")
        return f"{type(self).__name__}({', '.join(parts)})"


# fmt: off
@dataclass(frozen=True, repr=False)
class HttpSettings(Section):
    """[http]: the API listener, what it accepts and from whom."""

    listen: str = setting("127.0.0.1:8080",
        "Address the HTTP API listens on, host:port ([::1]:8080 for IPv6); loopback by "
        "default.", validate=v.listen)
    metrics_listen: str = setting("",
        "Extra listener serving only /metrics, host:port (no API key); empty: /metrics on the "
        "API port only.", validate=v.optional_listen)
    workers: int = setting(0,
        "HTTP worker processes (each validates, encodes and stores sends); 0: one per CPU "
        "core.", min=0, max=64)
    threads: int = setting(32,
        "Request threads of each HTTP worker; they only ever run whole, buffered requests.",
        min=1, max=1024)
    max_body_bytes: int = setting(1_048_576,
        "Largest request body accepted, in bytes; a larger one is answered 413 (by "
        "Content-Length before it is sent, chunked as soon as it grows past).", min=1)
    request_read_timeout: Seconds = setting(10.0,
        "A request must be whole this long after its first byte (a new connection: its first "
        "byte, TLS handshake included, this long after connecting); else 408 and closed.")
    max_connections: int = setting(1000,
        "Connections each HTTP worker holds open at once (reading, served, idle); at the cap "
        "new ones wait in the kernel's listen backlog until one closes.", min=1, max=100_000)
    tls_certificate: str = setting("",
        "PEM certificate chain (leaf first): the API then serves HTTPS only, TLS 1.2+; empty: "
        "plain HTTP. A relative name is relative to this file's directory.",
        path=True, validate=v.readable_file)
    tls_key: str = setting("",
        "Unencrypted PEM private key of tls_certificate: give it as tls_key_file (or "
        "SMPP_GATEWAY_HTTP_TLS_KEY_FILE), a file only the daemon can read.", secret=True)
    tls_client_ca: str = setting("",
        "PEM CA certificates for mutual TLS: when set, every client must present a "
        "certificate they signed. Relative to this file's directory.",
        path=True, validate=v.readable_file)
    validation_http_status: int = setting(200,
        "HTTP status of answers with responseCode 2-8 (the provider answers 200).",
        choices=(200, 400))
    api_keys: tuple[str, ...] = setting((),
        "API keys accepted in X-Mitto-API-Key or Authorization: Bearer; at least one is "
        "required.", secret=True)
    timeout: Seconds = setting(30.0,
        "gunicorn's timeout: a process (HTTP worker, engine, dispatcher) whose heartbeat is "
        "silent this long is killed and started again.")
    graceful_timeout: Seconds = setting(30.0,
        "Time the daemon gets after SIGTERM: HTTP workers finish requests, then the engine "
        "drains and unbinds, then the dispatcher stops.")
    max_message_parts: int = setting(10,
        "Most SMS parts one message may need; a longer text is answered 400.", min=1, max=255)
    bulk_max_receivers: int = setting(10_000,
        "Most receivers one POST /smsbulk may name; more is answered 400.", min=1, max=1_000_000)
    idempotency_window: Seconds = setting(86_400.0,
        "How long an Idempotency-Key is remembered: a repeat within it gets the first answer.")
    conversion_tracking: bool = setting(True,
        "Accept POST /sms/converted; when false it answers 400, as the provider does.")
    conversion_rate: float = setting(10.0,
        "POST /sms/converted requests per second allowed per API key (token bucket); more: "
        "429.", min=0.001)
    conversion_burst: int = setting(20,
        "Requests one API key may make at once before conversion_rate applies.", min=1)
    account_name: str = setting("default",
        "Account name of every API key: POST /usage/bycountry must give it as accountName.",
        validate=v.non_empty)


@dataclass(frozen=True, repr=False)
class SmppSettings(Section):
    """[smpp]: the binds to the SMSC and how messages go on the wire."""

    host: str = setting("127.0.0.1",
        "SMSC host name or address.", validate=v.non_empty)
    port: int = setting(2775,
        "SMSC TCP port.", min=1, max=65_535)
    system_id: str = setting("smppclient",
        "system_id sent in the bind (the account name): 1-15 printable ASCII characters.",
        validate=v.bind_field("system_id", required=True))
    password: str = setting("",
        "Password sent in the bind: at most 8 printable ASCII characters (SMPP 3.4); an empty "
        "one is sent as is and the SMSC will refuse the bind.", secret=True,
        validate=v.bind_field("password"))
    system_type: str = setting("",
        "system_type sent in the bind; usually empty; at most 12 printable ASCII characters.",
        validate=v.bind_field("system_type"))
    tls: bool = setting(False,
        "Connect to the SMSC over TLS (the provider gives a TLS port); the tls_* keys apply "
        "only then.")
    tls_ca_file: str = setting("",
        "PEM file of the CA certificates the SMSC's certificate must chain to; empty: the "
        "system's CAs. A relative name is relative to this file's directory.", path=True)
    tls_verify_hostname: bool = setting(True,
        "Check that the SMSC's certificate names smpp.host (or tls_server_name). false is "
        "UNSAFE: any certificate from a trusted CA then passes, so anyone can pose as the "
        "SMSC.")
    tls_server_name: str = setting("",
        "Host name the SMSC's certificate must carry (also sent as SNI); empty: smpp.host.",
        validate=v.host_name)
    tls_cert_file: str = setting("",
        "PEM client certificate (and chain) for an SMSC that requires one; empty: none. "
        "Relative to this file's directory.", path=True)
    tls_key: str = setting("",
        "Unencrypted PEM private key of tls_cert_file; empty: the key is in tls_cert_file.",
        secret=True)
    tls_min_version: str = setting("1.2",
        "Oldest TLS version accepted: 1.2 or 1.3.", choices=("1.2", "1.3"))
    bind_mode: str = setting("transceiver",
        "transceiver (one bind per session) or transmitter_receiver (two binds per session).",
        choices=("transceiver", "transmitter_receiver"))
    sessions: int = setting(1,
        "SMPP sessions kept bound at once (the provider allows up to 4).", min=1, max=16)
    window: int = setting(10,
        "Unanswered submit_sm allowed per session at once: where the adaptive window starts, "
        "or the fixed window.", min=1, max=1000)
    window_mode: str = setting("adaptive",
        "adaptive: the window grows while answers come back in time and work waits, and "
        "shrinks on throttling, queue full and timeouts (docs/architecture.md, 'Submit flow "
        "control'); fixed: it stays `window` and a throttle pauses throttle_pause.",
        choices=("adaptive", "fixed"))
    window_max: int = setting(500,
        "Largest adaptive window per session. It bounds the submits a lost link can "
        "duplicate; 500 covers 100 ms of round trip at 5,000 msg/s.", min=1, max=5000)
    max_rate: float = setting(0.0,
        "Submits per second for the whole account (all sessions, all daemons on the store), "
        "for a contractual limit: submits are paced to it, never throttled into it; 0: none.",
        min=0.0, max=100_000.0)
    response_timeout: Seconds = setting(10.0,
        "Time to wait for a PDU's response before it counts as lost; an unanswered submit_sm "
        "is retried and its link dropped and rebound.")
    enquire_link_interval: Seconds = setting(30.0,
        "A link silent this long is dead and rebound; enquire_link probes after half of it.")
    reconnect_min_delay: Seconds = setting(1.0,
        "First delay before rebinding after a lost or refused bind; doubles per failure.")
    reconnect_max_delay: Seconds = setting(10.0,
        "Longest delay between rebind attempts: after an outage, sending resumes at most this "
        "long after the SMSC is back.")
    retry_min_delay: Seconds = setting(1.0,
        "First delay before resubmitting after a temporary SMSC error; doubles per try.")
    retry_max_delay: Seconds = setting(60.0,
        "Longest delay between resubmit attempts.")
    throttle_pause: Seconds = setting(1.0,
        "window_mode = fixed: how long a session stops submitting after ESME_RTHROTTLED "
        "(the adaptive mode paces itself instead).")
    gsm_charset: str = setting("gsm",
        "Character set the SMSC means by data_coding 0: gsm (GSM 03.38), latin1 or ascii.",
        choices=("gsm", "latin1", "ascii"))
    registered_delivery: int = setting(1,
        "Receipts requested: 0 none, 1 on success and failure, 2 on failure only.",
        choices=(0, 1, 2))
    default_validity_minutes: int = setting(2880,
        "Validity period of a message whose request gives none, in minutes (at most 14 days).",
        min=1, max=20_160)
    alnum_sender_ton: int = setting(5,
        "source_addr_ton for alphanumeric senders (5 alphanumeric).", min=0, max=6)
    alnum_sender_npi: int = setting(0,
        "source_addr_npi for alphanumeric senders (0 unknown).",
        choices=(0, 1, 3, 4, 6, 8, 9, 10, 14, 18))
    numeric_sender_ton: int = setting(1,
        "source_addr_ton for numeric senders (1 international).", min=0, max=6)
    numeric_sender_npi: int = setting(1,
        "source_addr_npi for numeric senders (1 E.164).", choices=(0, 1, 3, 4, 6, 8, 9, 10, 14, 18))
    dest_addr_ton: int = setting(1,
        "dest_addr_ton of recipients (1 international).", min=0, max=6)
    dest_addr_npi: int = setting(1,
        "dest_addr_npi of recipients (1 E.164).", choices=(0, 1, 3, 4, 6, 8, 9, 10, 14, 18))
    stop_grace: Seconds = setting(10.0,
        "Time to wait at stop for responses to submits in flight; 0 does not wait.", min=0.0)


@dataclass(frozen=True, repr=False)
class StoreSettings(Section):
    """[store]: where messages live, and for how long."""

    path: str = setting("var/gateway.db",
        "SQLite database file, relative to the working directory (used when store.url is "
        "empty).", validate=v.non_empty)
    url: str = setting("",
        "Store URL: postgresql://user@host/db (several daemons) or sqlite:///path; empty: "
        "SQLite at store.path (may carry a password).", secret=True, validate=v.store_url)
    migrate_on_start: bool = setting(True,
        "Apply missing migrations at start; false: refuse to start until `smpp-gateway "
        "migrate`.")
    pool_size: int = setting(4,
        "PostgreSQL: read connections per process (each HTTP worker, the engine, the "
        "dispatcher); the writers and the engine's LISTEN use more.",
        min=1, max=64)
    writers: int = setting(1,
        "PostgreSQL: write connections per process (each HTTP worker, the engine, the "
        "dispatcher); more overlap round trips to a remote server.", min=1, max=32)
    claim_lease: Seconds = setting(30.0,
        "PostgreSQL: a claim lasts this long unless renewed; a dead engine's claims (its "
        "daemon's or a restarted one's) are taken over after it (messages in flight then may "
        "be sent twice).", min=1.0)
    retention: Seconds = setting(7_776_000.0,
        "Delete finished messages and delivered webhooks older than this (90 days: usage "
        "reports and conversions see no further back); 0 keeps all.", min=0.0)
    keep_text: bool = setting(False,
        "Keep a message's text (and its encoded parts) once it is final. Texts are personal "
        "data, needed only until the SMSC has the message; off: emptied when the message "
        "reaches a final state, and only its length is kept.")
    retention_batch: int = setting(500,
        "Most rows of each kind one retention pass deletes (once a second, short "
        "transactions).", min=1, max=100_000)
    commit_max_batch: int = setting(512,
        "Most writes the store writer commits in one transaction.", min=1, max=100_000)
    commit_max_delay: Seconds = setting(0.002,
        "Longest a write waits for others to share its commit; 0 commits at once.", min=0.0)


@dataclass(frozen=True, repr=False)
class WebhooksSettings(Section):
    """[webhooks]: status callbacks and inbound posts."""

    default_callback_url: str = setting("",
        "Callback URL for receipts and inbound messages when a request names none; empty: "
        "none.", validate=v.http_url)
    allowed_callback_hosts: tuple[str, ...] = setting((),
        "Hosts a request's callback URL may name: host, host:port, or *.example.com for "
        "subdomains; empty (the default): per-message callbacks are refused.",
        validate=v.callback_hosts)
    secret: str = setting("",
        "Key that signs callbacks; empty: callbacks are not signed. With signature_scheme "
        "standard-webhooks, a whsec_ secret (whsec_ and 24 to 64 bytes in base64).",
        secret=True)
    signature_scheme: str = setting("hmac-sha256",
        "hmac-sha256: X-Webhook-Timestamp and X-Webhook-Signature (docs/receipts.md); "
        "standard-webhooks: webhook-id, webhook-timestamp and webhook-signature, which "
        "receivers verify with the Standard Webhooks libraries (needs method POST).",
        choices=("hmac-sha256", "standard-webhooks"))
    method: str = setting("GET",
        "HTTP method of callbacks and inbound posts: GET (parameters in the query) or POST.",
        choices=("GET", "POST"))
    post_format: str = setting("json",
        "Body of a POST without a body template: json or form (urlencoded).",
        choices=("json", "form"))
    body_template: str = setting("",
        "POST body template for callbacks with <name>, $name$ or ~name~ placeholders; empty: "
        "none.")
    client_parameter: str = setting("",
        "Name of a callback parameter carrying the client that sent the message "
        "(docs/clients.md); empty: none, the provider's callback shape.")
    stop_words: tuple[str, ...] = setting(("STOP", "STOPP", "UNSUBSCRIBE"),
        "An inbound message that is one of these words (case and spaces ignored) puts its "
        "sender on the opt-out list of the number it wrote to; empty: no opt-out by text.")
    body_content_type: str = setting("application/json",
        "Content-Type of a body built from a template.", validate=v.non_empty)
    notify_statuses: tuple[str, ...] = setting(lifecycle.NOTIFIABLE,
        "States that get a callback when a request gives no deliveryStatusesToNotify.",
        validate=v.no_empty_items)
    inbound_url: str = setting("",
        "URL that receives inbound (MO) messages; empty: they are kept but not posted.",
        validate=v.http_url)
    inbound_body_template: str = setting("",
        "POST body template for inbound messages (coding, sender, content, receiver, msgid).")
    concurrency: int = setting(32,
        "Webhook requests in flight at once, and keep-alive connections kept open.",
        min=1, max=256)
    timeout: Seconds = setting(10.0,
        "Time a receiver gets to answer one request.")
    retry_min_delay: Seconds = setting(1.0,
        "First delay before retrying a failed webhook; doubles per try, with jitter.")
    retry_max_delay: Seconds = setting(600.0,
        "Longest delay between webhook retries.")
    max_age: Seconds = setting(172_800.0,
        "Retry a webhook this long (48 h, the provider's validity default), then dead-letter "
        "it.")
    mo_reassembly_timeout: Seconds = setting(60.0,
        "Time to wait for the missing parts of an inbound message before posting what came.")


@dataclass(frozen=True, repr=False)
class LogSettings(Section):
    """[log]: what the daemon writes to stdout."""

    level: str = setting("info",
        "Log level.", choices=("debug", "info", "warning", "error"))
    format: str = setting("json",
        "json: one JSON object per line (for journald and shippers); text: readable lines.",
        choices=("json", "text"))
    access_log: bool = setting(False,
        "Log every HTTP request (method, path without query, status, duration); off by "
        "default, as in gunicorn: it costs ~6% of the CPU of a send.")
    pdu_debug: bool = setting(False,
        "Log every SMPP PDU in and out (command, sequence, status; never a body) at debug "
        "level, whatever log.level is (noisy; for troubleshooting).")


# fmt: on


@dataclass(frozen=True)
class Config:
    """The whole configuration: one frozen object per section, plus the source file."""

    http: HttpSettings = dataclasses.field(default_factory=HttpSettings)
    smpp: SmppSettings = dataclasses.field(default_factory=SmppSettings)
    store: StoreSettings = dataclasses.field(default_factory=StoreSettings)
    webhooks: WebhooksSettings = dataclasses.field(default_factory=WebhooksSettings)
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    clients: tuple[Client, ...] = ()  # [clients.NAME] tables and http.api_keys (clients.py)
    path: str | None = None


SECTION_CLASSES: dict[str, type[Section]] = {
    f.name: typing.get_type_hints(Config)[f.name]
    for f in dataclasses.fields(Config)
    if f.name not in ("path", "clients")
}
SECTIONS: tuple[str, ...] = tuple(SECTION_CLASSES)


def _setting_type(hint: Any) -> Any:
    """The loader's type for a field's annotation (tuple[str, ...] is a list setting)."""
    if typing.get_origin(hint) is Annotated:
        return typing.get_args(hint)[1]  # Duration
    if typing.get_origin(hint) is tuple:
        return list[str]
    return hint


def _declared(section: str, cls: type[Section]) -> list[Setting]:
    hints = typing.get_type_hints(cls, include_extras=True)
    return [
        Setting(section, f.name, _setting_type(hints[f.name]), f.default, **f.metadata["setting"])
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    ]


SETTINGS: tuple[Setting, ...] = tuple(
    s for section, cls in SECTION_CLASSES.items() for s in _declared(section, cls)
)
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS}


if __name__ == "__main__":
    from gateway.config_docs import main

    sys.exit(main())

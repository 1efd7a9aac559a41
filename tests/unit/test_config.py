"""gateway.config: declarations, loading, precedence, secrets, problems, generated files."""

from __future__ import annotations

import base64
import dataclasses
import logging
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from gateway import config_docs
from gateway.config import SETTINGS, Config, Duration
from gateway.config_docs import render_example_toml, render_markdown_table, write_generated_files
from gateway.config_load import (
    ConfigError,
    build_config,
    check_config,
    check_config_command,
    config_summary,
    load_config,
)
from gateway.config_values import check, parse_listen

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "gateway.example.toml"
KEYS = {"SMPP_GATEWAY_HTTP_API_KEYS": "k1"}


def problems_of(data: dict | None = None, env: dict | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build_config(data or {}, env if env is not None else KEYS)
    return info.value.problems


def write(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests that fall back to os.environ must not see the developer's settings."""
    import os

    for name in list(os.environ):
        if name.startswith("SMPP_GATEWAY_"):
            monkeypatch.delenv(name)


# ---- declarations and defaults --------------------------------------------------------


def test_declarations_are_unique_and_envs_derived():
    keys = [s.key for s in SETTINGS]
    assert len(keys) == len(set(keys))
    window = next(s for s in SETTINGS if s.key == "smpp.window")
    assert window.env == "SMPP_GATEWAY_SMPP_WINDOW"
    assert all(s.env == f"SMPP_GATEWAY_{s.section}_{s.name}".upper() for s in SETTINGS)
    assert {s.key for s in SETTINGS if s.secret} == {
        "http.api_keys",
        "http.tls_key",  # the API's TLS private key
        "smpp.password",
        "smpp.tls_key",  # the client certificate's private key
        "store.url",  # a PostgreSQL URL may carry a password
        "webhooks.secret",
    }


@pytest.mark.parametrize("setting", [s for s in SETTINGS if not s.secret], ids=lambda s: s.key)
def test_every_default_passes_its_own_checks(setting):
    assert check(setting, setting.default) == setting.default
    assert setting.type in config_docs.TYPE_NAMES
    assert setting.section in config_docs.SECTION_DOCS
    assert setting.doc and "\n" not in setting.doc


def test_defaults():
    cfg = build_config({}, KEYS)
    for s in SETTINGS:
        if s.key != "http.api_keys":
            assert getattr(getattr(cfg, s.section), s.name) == s.default, s.key
    assert cfg.http.listen == "127.0.0.1:8080"
    assert cfg.http.api_keys == ("k1",)
    assert cfg.smpp.window == 10
    assert cfg.smpp.password == ""
    assert cfg.smpp.system_id == "smppclient"
    assert cfg.webhooks.allowed_callback_hosts == ()  # per-message callbacks off by default
    assert cfg.log.pdu_debug is False
    assert isinstance(cfg.smpp.response_timeout, float)
    assert cfg.path is None


def test_config_is_frozen():
    cfg = build_config({}, KEYS)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.smpp.window = 5  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.path = "x"  # type: ignore[misc]
    assert isinstance(cfg, Config)


# ---- sources and precedence -----------------------------------------------------------


def test_toml_values(tmp_path):
    path = write(
        tmp_path / "gw.toml",
        """
[http]
listen = "[::1]:9090"
api_keys = ["a", "b"]
timeout = 5
[smpp]
window = 50
sessions = 4
bind_mode = "transmitter_receiver"
response_timeout = "250ms"
enquire_link_interval = "1m"
[store]
commit_max_delay = 0
[webhooks]
allowed_callback_hosts = ["hooks.example.com", "*.example.org"]
[log]
level = "DEBUG"
pdu_debug = true
""",
    )
    cfg = load_config(path, {})
    assert cfg.path == path
    assert cfg.http.listen == "[::1]:9090"
    assert cfg.http.api_keys == ("a", "b")
    assert cfg.http.timeout == 5.0 and isinstance(cfg.http.timeout, float)
    assert (cfg.smpp.window, cfg.smpp.sessions) == (50, 4)
    assert cfg.smpp.bind_mode == "transmitter_receiver"
    assert cfg.smpp.response_timeout == pytest.approx(0.25)
    assert cfg.smpp.enquire_link_interval == 60.0
    assert cfg.store.commit_max_delay == 0.0
    assert cfg.webhooks.allowed_callback_hosts == ("hooks.example.com", "*.example.org")
    assert cfg.log.level == "debug"
    assert cfg.log.pdu_debug is True


def test_env_wins_over_toml(tmp_path):
    path = write(tmp_path / "gw.toml", '[smpp]\nwindow = 50\nhost = "file-host"\n')
    env = {**KEYS, "SMPP_GATEWAY_SMPP_WINDOW": "7"}
    cfg = load_config(path, env)
    assert cfg.smpp.window == 7
    assert cfg.smpp.host == "file-host"


def test_empty_env_var_counts_as_unset(tmp_path):
    path = write(tmp_path / "gw.toml", "[smpp]\nwindow = 50\n")
    cfg = load_config(path, {**KEYS, "SMPP_GATEWAY_SMPP_WINDOW": ""})
    assert cfg.smpp.window == 50


def test_load_config_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("SMPP_GATEWAY_HTTP_API_KEYS", "from-os")
    monkeypatch.setenv("SMPP_GATEWAY_SMPP_SESSIONS", "3")
    cfg = load_config(None)
    assert cfg.http.api_keys == ("from-os",)
    assert cfg.smpp.sessions == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True), ("True", True), ("1", True), ("yes", True), ("on", True),
        ("false", False), ("FALSE", False), ("0", False), ("no", False), ("off", False),
    ],
)  # fmt: skip
def test_bool_from_env(text, expected):
    cfg = build_config({}, {**KEYS, "SMPP_GATEWAY_LOG_PDU_DEBUG": text})
    assert cfg.log.pdu_debug is expected


@pytest.mark.parametrize(
    ("name", "text", "attr", "expected"),
    [
        ("SMPP_GATEWAY_SMPP_PORT", " 2776 ", ("smpp", "port"), 2776),
        ("SMPP_GATEWAY_STORE_COMMIT_MAX_DELAY", "0.01", ("store", "commit_max_delay"), 0.01),
        ("SMPP_GATEWAY_SMPP_RESPONSE_TIMEOUT", "2.5", ("smpp", "response_timeout"), 2.5),
        ("SMPP_GATEWAY_SMPP_THROTTLE_PAUSE", "500ms", ("smpp", "throttle_pause"), 0.5),
        ("SMPP_GATEWAY_SMPP_RETRY_MAX_DELAY", "2m", ("smpp", "retry_max_delay"), 120.0),
        ("SMPP_GATEWAY_HTTP_GRACEFUL_TIMEOUT", "1h", ("http", "graceful_timeout"), 3600.0),
        ("SMPP_GATEWAY_SMPP_SYSTEM_TYPE", "VMA", ("smpp", "system_type"), "VMA"),
        ("SMPP_GATEWAY_HTTP_LISTEN", "0.0.0.0:80", ("http", "listen"), "0.0.0.0:80"),
        ("SMPP_GATEWAY_SMPP_GSM_CHARSET", "Latin1", ("smpp", "gsm_charset"), "latin1"),
        (
            "SMPP_GATEWAY_WEBHOOKS_ALLOWED_CALLBACK_HOSTS",
            " a.example , b.example,,",
            ("webhooks", "allowed_callback_hosts"),
            ("a.example", "b.example"),
        ),
    ],
)
def test_types_from_env(name, text, attr, expected):
    cfg = build_config({}, {**KEYS, name: text})
    value = getattr(getattr(cfg, attr[0]), attr[1])
    assert value == pytest.approx(expected) if isinstance(expected, float) else value == expected
    assert type(value) is type(expected)


def test_api_keys_from_env_are_comma_separated():
    cfg = build_config({}, {"SMPP_GATEWAY_HTTP_API_KEYS": "one, two ,three"})
    assert cfg.http.api_keys == ("one", "two", "three")


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("SMPP_GATEWAY_SMPP_WINDOW", "ten"),
        ("SMPP_GATEWAY_SMPP_WINDOW", "1.5"),
        ("SMPP_GATEWAY_LOG_PDU_DEBUG", "maybe"),
        ("SMPP_GATEWAY_SMPP_RESPONSE_TIMEOUT", "soon"),
        ("SMPP_GATEWAY_SMPP_RESPONSE_TIMEOUT", "nan"),
        ("SMPP_GATEWAY_STORE_COMMIT_MAX_DELAY", "inf"),
    ],
)
def test_bad_env_value_names_key_and_variable(name, text):
    (problem,) = problems_of(env={**KEYS, name: text})
    key = name.removeprefix("SMPP_GATEWAY_").lower().replace("_", ".", 1)
    assert problem.startswith(f"{key}: expected ")
    assert name in problem
    assert repr(text) in problem


# ---- secrets --------------------------------------------------------------------------


def test_secrets_from_env():
    env = {
        "SMPP_GATEWAY_HTTP_API_KEYS": "k1,k2",
        "SMPP_GATEWAY_SMPP_PASSWORD": "pw-env",
        "SMPP_GATEWAY_WEBHOOKS_SECRET": "hmac-env",
    }
    cfg = build_config({}, env)
    assert cfg.http.api_keys == ("k1", "k2")
    assert cfg.smpp.password == "pw-env"
    assert cfg.webhooks.secret == "hmac-env"


def test_secrets_from_env_file(tmp_path):
    keys = write(tmp_path / "keys", "# the callers\nalpha\n\n  beta  \n# retired: gamma\n")
    password = write(tmp_path / "pw", "pw-file\n")
    env = {
        "SMPP_GATEWAY_HTTP_API_KEYS_FILE": keys,
        "SMPP_GATEWAY_SMPP_PASSWORD_FILE": password,
    }
    cfg = build_config({}, env)
    assert cfg.http.api_keys == ("alpha", "beta")
    assert cfg.smpp.password == "pw-file"


def test_secrets_from_toml_file_key_relative_to_config_dir(tmp_path):
    (tmp_path / "secrets").mkdir()
    write(tmp_path / "secrets" / "keys", "k-file\n")
    write(tmp_path / "secrets" / "pw", "  pw-tomlf  \n")
    write(tmp_path / "secrets" / "hmac", "hmac-file")
    path = write(
        tmp_path / "gw.toml",
        '[http]\napi_keys_file = "secrets/keys"\n'
        '[smpp]\npassword_file = "secrets/pw"\n'
        f'[webhooks]\nsecret_file = "{tmp_path / "secrets" / "hmac"}"\n',
    )
    cfg = load_config(path, {})
    assert cfg.http.api_keys == ("k-file",)
    assert cfg.smpp.password == "pw-tomlf"
    assert cfg.webhooks.secret == "hmac-file"


def test_secret_precedence(tmp_path):
    env_file = write(tmp_path / "env-file", "env-file")
    toml_file = write(tmp_path / "toml-file", "tomlfile")
    both = f'password = "in-toml"\npassword_file = "{toml_file}"\n'
    path = write(tmp_path / "gw.toml", "[smpp]\n" + both)
    full = {**KEYS, "SMPP_GATEWAY_SMPP_PASSWORD": "from-env"}
    full["SMPP_GATEWAY_SMPP_PASSWORD_FILE"] = env_file
    assert load_config(path, full).smpp.password == "from-env"
    del full["SMPP_GATEWAY_SMPP_PASSWORD"]
    assert load_config(path, full).smpp.password == "env-file"
    assert load_config(path, KEYS).smpp.password == "in-toml"
    only_file = write(tmp_path / "gw2.toml", f'[smpp]\npassword_file = "{toml_file}"\n')
    assert load_config(only_file, KEYS).smpp.password == "tomlfile"
    assert load_config(None, KEYS).smpp.password == ""


def test_unreadable_secret_file_is_a_problem(tmp_path):
    missing = str(tmp_path / "nope")
    path = write(tmp_path / "gw.toml", '[smpp]\npassword_file = "nope"\n')
    problems = check_config(path, {"SMPP_GATEWAY_HTTP_API_KEYS_FILE": missing})
    assert len(problems) == 2  # not also "API keys required": that would be noise
    assert problems[0].startswith("http.api_keys: cannot read secret file")
    assert "SMPP_GATEWAY_HTTP_API_KEYS_FILE" in problems[0]
    assert problems[1].startswith("smpp.password: cannot read secret file")
    assert "password_file" in problems[1]


def test_secret_file_key_must_be_a_name(tmp_path):
    path = write(tmp_path / "gw.toml", "[smpp]\npassword_file = 5\n")
    assert check_config(path, KEYS) == [
        "smpp.password: must be a file name (from smpp.password_file)"
    ]


def test_secrets_never_shown(tmp_path, caplog):
    env = {
        "SMPP_GATEWAY_HTTP_API_KEYS": "key-SEKRIT-1,key-SEKRIT-2",
        "SMPP_GATEWAY_SMPP_PASSWORD": "pwSEKRIT",
        "SMPP_GATEWAY_WEBHOOKS_SECRET": "hmac-SEKRIT",
    }
    cfg = build_config({}, env)
    summary = config_summary(cfg)
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("config %s %r %s", cfg, cfg.smpp, summary)
    for shown in (repr(cfg), str(cfg), repr(cfg.smpp), str(summary), caplog.text):
        assert "SEKRIT" not in shown
    assert "password=<secret>" in repr(cfg.smpp)
    assert "secret=<secret>" in repr(cfg.webhooks)
    assert summary["smpp.password"] == summary["http.api_keys"] == "***"
    assert summary["smpp.window"] == 10
    assert summary["webhooks.allowed_callback_hosts"] == []
    unset = config_summary(build_config({}, KEYS))
    assert unset["smpp.password"] == unset["webhooks.secret"] == "unset"
    assert "password=<unset>" in repr(build_config({}, KEYS))


def test_secret_values_not_echoed_in_problems(tmp_path):
    path = write(tmp_path / "gw.toml", "[smpp]\npassword = 12345678\n")
    (problem,) = check_config(path, KEYS)
    assert problem == "smpp.password: expected a string, got an integer"


# ---- problems -------------------------------------------------------------------------


def test_every_problem_reported_at_once(tmp_path):
    path = write(
        tmp_path / "gw.toml",
        '[smpp]\nwindow = "ten"\nsessions = 17\n[log]\nlevel = "loud"\n',
    )
    problems = check_config(path, KEYS)
    assert len(problems) == 3
    assert problems[0].startswith("smpp.sessions: must be <= 16")
    assert problems[1].startswith("smpp.window: expected an integer, got a string")
    assert problems[2].startswith("log.level: must be one of debug, info, warning, error")
    with pytest.raises(ConfigError) as info:
        load_config(path, KEYS)
    assert info.value.problems == problems
    assert str(info.value) == "\n".join(problems)
    assert isinstance(info.value, ValueError)


def test_unknown_section_key_and_env_var():
    problems = problems_of(
        {"smpp": {"windw": 3}, "htpp": {}},
        {**KEYS, "SMPP_GATEWAY_SMPP_SESION": "2", "SMPP_GATEWAY_CONFIG": "ignored"},
    )
    assert problems == [
        "smpp.windw: unknown key (did you mean 'window'?)",
        "htpp: unknown section (did you mean 'http'?)",
        "smpp.sesion: unknown setting (environment variable SMPP_GATEWAY_SMPP_SESION)"
        " (did you mean variable 'SMPP_GATEWAY_SMPP_SESSIONS'?)",
    ]


def test_file_keys_only_for_secrets():
    assert problems_of({"smpp": {"host_file": "x"}}) == [
        "smpp.host_file: unknown key (did you mean 'host'?)"
    ]
    assert problems_of(env={**KEYS, "SMPP_GATEWAY_SMPP_HOST_FILE": "x"}) == [
        "smpp.host_file: unknown setting (environment variable SMPP_GATEWAY_SMPP_HOST_FILE)"
        " (did you mean variable 'SMPP_GATEWAY_SMPP_HOST'?)"
    ]


def test_section_must_be_a_table():
    assert problems_of({"smpp": 5}) == ["smpp: expected a [smpp] table"]


def test_missing_api_keys():
    (problem,) = problems_of(env={})
    assert problem.startswith("http.api_keys: API keys required")
    assert "SMPP_GATEWAY_HTTP_API_KEYS" in problem
    assert "api_keys_file" in problem
    assert problems_of({"http": {"api_keys": []}}, {}) == [problem]
    assert problems_of(env={"SMPP_GATEWAY_HTTP_API_KEYS": " , "}) == [problem]


def test_empty_api_keys_file_is_missing_keys(tmp_path):
    keys = write(tmp_path / "keys", "# nobody yet\n\n")
    (problem,) = problems_of(env={"SMPP_GATEWAY_HTTP_API_KEYS_FILE": keys})
    assert problem.startswith("http.api_keys: API keys required")


@pytest.mark.parametrize(
    ("data", "start"),
    [
        ({"smpp": {"sessions": 0}}, "smpp.sessions: must be >= 1, got 0"),
        ({"smpp": {"sessions": 17}}, "smpp.sessions: must be <= 16, got 17"),
        ({"smpp": {"window": 1001}}, "smpp.window: must be <= 1000"),
        ({"smpp": {"port": 0}}, "smpp.port: must be >= 1"),
        ({"smpp": {"response_timeout": 0}}, "smpp.response_timeout: must be > 0"),
        ({"http": {"timeout": -1.5}}, "http.timeout: must be > 0, got -1.5"),
        ({"smpp": {"enquire_link_interval": "0s"}}, "smpp.enquire_link_interval: must be > 0"),
        ({"smpp": {"stop_grace": -1}}, "smpp.stop_grace: must be >= 0"),
        ({"smpp": {"default_validity_minutes": 20161}}, "smpp.default_validity_minutes: must be"),
        ({"smpp": {"registered_delivery": 3}}, "smpp.registered_delivery: must be one of 0, 1, 2"),
        ({"smpp": {"bind_mode": "receiver"}}, "smpp.bind_mode: must be one of transceiver"),
        ({"smpp": {"gsm_charset": "utf8"}}, "smpp.gsm_charset: must be one of gsm"),
        ({"smpp": {"dest_addr_npi": 2}}, "smpp.dest_addr_npi: must be one of 0, 1, 3"),
        ({"smpp": {"host": ""}}, "smpp.host: must not be empty"),
        ({"http": {"validation_http_status": 422}}, "http.validation_http_status: must be one"),
        ({"store": {"path": ""}}, "store.path: must not be empty"),
        ({"store": {"commit_max_delay": float("nan")}}, "store.commit_max_delay: must be a finite"),
        ({"webhooks": {"default_callback_url": "ftp://x"}}, "webhooks.default_callback_url:"),
        ({"webhooks": {"allowed_callback_hosts": [""]}}, "webhooks.allowed_callback_hosts:"),
        (
            {"webhooks": {"default_callback_url": "http://127.0.0.1:9\\@cb.example/x"}},
            "webhooks.default_callback_url: must not contain a backslash",
        ),
        ({"webhooks": {"inbound_url": "http://u@cb.example/"}}, "webhooks.inbound_url: must not"),
        (
            {"webhooks": {"allowed_callback_hosts": ["127.1"]}},
            "webhooks.allowed_callback_hosts: bad",
        ),
        ({"webhooks": {"allowed_callback_hosts": "a"}}, "webhooks.allowed_callback_hosts: exp"),
        ({"webhooks": {"allowed_callback_hosts": [1]}}, "webhooks.allowed_callback_hosts: exp"),
        ({"log": {"pdu_debug": "yes"}}, "log.pdu_debug: expected a boolean"),
        ({"smpp": {"window": True}}, "smpp.window: expected an integer, got a boolean"),
        ({"smpp": {"window": 2.5}}, "smpp.window: expected an integer, got a number (2.5)"),
        ({"smpp": {"host": 5}}, "smpp.host: expected a string, got an integer (5)"),
    ],
)
def test_value_problems(data, start):
    (problem,) = problems_of(data)
    assert problem.startswith(start), problem


@pytest.mark.parametrize("prefix", ["reconnect", "retry"])
def test_min_delay_must_not_exceed_max(prefix):
    data = {"smpp": {f"{prefix}_min_delay": 30, f"{prefix}_max_delay": 5}}
    assert problems_of(data) == [
        f"smpp.{prefix}_min_delay: must be <= smpp.{prefix}_max_delay (30 > 5)"
    ]
    equal = build_config({"smpp": {f"{prefix}_min_delay": 5, f"{prefix}_max_delay": 5}}, KEYS)
    assert getattr(equal.smpp, f"{prefix}_min_delay") == 5.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("localhost:65535", ("localhost", 65535)),
        ("[::1]:8080", ("::1", 8080)),
        ("[::]:1", ("::", 1)),
    ],
)
def test_parse_listen(value, expected):
    assert parse_listen(value) == expected
    assert build_config({"http": {"listen": value}}, KEYS).http.listen == value


@pytest.mark.parametrize(
    "value",
    ["8080", ":8080", "host", "host:", "host:port", "host:0", "host:65536", "::1:8080",
     "[::1]8080", "[::1]", "[nothost]:80", "host:８０"],
)  # fmt: skip
def test_bad_listen(value):
    with pytest.raises(ValueError):
        parse_listen(value)
    (problem,) = problems_of({"http": {"listen": value}})
    assert problem.startswith("http.listen: ")


def test_unreadable_or_invalid_config_file(tmp_path):
    missing = str(tmp_path / "missing.toml")
    assert check_config(missing, KEYS) == [
        f"{missing}: cannot read config file: No such file or directory"
    ]
    bad = write(tmp_path / "bad.toml", "[smpp\nwindow = 1\n")
    (problem,) = check_config(bad, KEYS)
    assert problem.startswith(f"{bad}: invalid TOML: ")


# ---- bind fields: what SMPP 3.4 can carry ---------------------------------------------

BIND_LIMITS = [("system_id", 15), ("password", 8), ("system_type", 12)]


@pytest.mark.parametrize(("name", "limit"), BIND_LIMITS)
def test_bind_fields_up_to_the_protocol_limit_pass(name, limit):
    value = "Ab1~ -"[: min(limit, 6)] + "x" * max(0, limit - 6)
    env = {**KEYS, f"SMPP_GATEWAY_SMPP_{name.upper()}": value}
    assert getattr(build_config({}, env).smpp, name) == value


@pytest.mark.parametrize(("name", "limit"), BIND_LIMITS)
def test_bind_fields_over_the_protocol_limit_are_refused(name, limit):
    value = "y" * (limit + 1)
    (problem,) = problems_of({"smpp": {name: value}})
    assert problem == (
        f"smpp.{name}: at most {limit} characters (SMPP 3.4 carries {limit + 1} octets with "
        f"the closing NUL), got {limit + 1}"
    )


@pytest.mark.parametrize(("name", "limit"), BIND_LIMITS)
@pytest.mark.parametrize("bad", ["\u00e9", "\u20ac", "\x00", "\t", "\x7f", "\n"])
def test_bind_fields_must_be_printable_ascii(name, limit, bad):
    value = "zq" + bad
    (problem,) = problems_of({"smpp": {name: value}})
    assert problem.startswith(
        f"smpp.{name}: only printable ASCII characters (no control or non-ASCII characters)"
    )
    if name == "password":  # a secret: neither the value nor a character of it is shown
        assert problem.endswith("characters)")
        assert "zq" not in problem and repr(bad) not in problem
    else:
        assert problem.endswith(f", got {bad!r} at position 3")


def test_password_problem_names_its_source_not_its_value(tmp_path):
    env = {**KEYS, "SMPP_GATEWAY_SMPP_PASSWORD": "hunter2hunter2"}
    (problem,) = problems_of(env=env)
    assert problem == (
        "smpp.password: at most 8 characters (SMPP 3.4 carries 9 octets with the closing NUL), "
        "got 14 (from SMPP_GATEWAY_SMPP_PASSWORD)"
    )
    secret = write(tmp_path / "pw", "pässwort\n")
    (problem,) = problems_of(env={**KEYS, "SMPP_GATEWAY_SMPP_PASSWORD_FILE": secret})
    assert "pässwort" not in problem and problem.startswith("smpp.password: only printable")


def test_empty_system_id_is_refused():
    assert problems_of({"smpp": {"system_id": ""}}) == ["smpp.system_id: must not be empty"]


# ---- check-config command -------------------------------------------------------------


def test_check_config_command_ok(tmp_path, capsys, monkeypatch):
    path = write(tmp_path / "gw.toml", "[smpp]\nwindow = 20\n")
    monkeypatch.setenv("SMPP_GATEWAY_HTTP_API_KEYS", "k")
    assert check_config_command(path) == 0
    out, err = capsys.readouterr()
    assert out == f"ok: {path}\n"
    assert err == ""


def test_check_config_command_problems(tmp_path, capsys):
    path = write(tmp_path / "gw.toml", "[smpp]\nwindow = 0\nbogus = 1\n")
    assert check_config_command(path) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[:2] == ["smpp.bogus: unknown key", "smpp.window: must be >= 1, got 0"]
    assert lines[2].startswith("http.api_keys: API keys required")
    assert len(lines) == 3


def test_check_config_and_run_refuse_a_nine_character_password(tmp_path):
    """The real commands: smpplib would cut this password to 8 and the bind would fail."""
    path = write(tmp_path / "gw.toml", '[smpp]\nsystem_id = "acme"\n')
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SMPP_GATEWAY_")},
        "SMPP_GATEWAY_HTTP_API_KEYS": "k",
        "SMPP_GATEWAY_SMPP_PASSWORD": "s3cr3t-p9",
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "check-config", path],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "smpp.password: at most 8 characters (SMPP 3.4 carries 9 octets with the closing NUL), "
        "got 9 (from SMPP_GATEWAY_SMPP_PASSWORD)"
    ]
    assert "s3cr3t" not in done.stderr
    env["SMPP_GATEWAY_STORE_PATH"] = str(tmp_path / "gw.db")
    started = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "run", "--config", path],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert started.returncode == 2  # refused at start, before any bind
    assert "smpp.password: at most 8 characters" in started.stdout + started.stderr
    assert "s3cr3t" not in started.stdout + started.stderr
    assert not (tmp_path / "gw.db").exists()


# ---- generated files ------------------------------------------------------------------


def test_example_toml_is_up_to_date():
    assert EXAMPLE.read_text(encoding="utf-8") == render_example_toml(), (
        "config/gateway.example.toml is stale: run python -m gateway.config --write-docs"
    )


def test_configuration_md_is_up_to_date():
    path = ROOT / "docs" / "configuration.md"
    assert path.read_text(encoding="utf-8") == config_docs.render_configuration_md(), (
        "docs/configuration.md is stale: run python -m gateway.config --write-docs"
    )
    assert render_markdown_table() in path.read_text(encoding="utf-8")


def test_example_loads_clean():
    assert check_config(str(EXAMPLE), KEYS) == []
    cfg = load_config(str(EXAMPLE), KEYS)
    assert cfg == dataclasses.replace(build_config({}, KEYS), path=str(EXAMPLE))


def test_example_sets_every_non_secret_key_to_its_default():
    data = tomllib.loads(render_example_toml())
    for s in SETTINGS:
        table = data[s.section]
        if s.secret:
            assert s.name not in table and s.file_key not in table
            assert f"# {s.file_key} = " in render_example_toml()
        else:
            expected = list(s.default) if isinstance(s.default, tuple) else s.default
            assert table[s.name] == expected, s.key
            assert type(table[s.name]) is type(expected), s.key


def test_example_header_explains_env_and_secrets():
    header = render_example_toml().split("[http]")[0]
    for text in [
        "SMPP_GATEWAY_SMPP_PASSWORD",
        "SMPP_GATEWAY_HTTP_API_KEYS",
        "_FILE",
        "SMPP_GATEWAY_<SECTION>_<KEY>",
    ]:
        assert text in header


def test_markdown_table_has_a_row_per_setting():
    lines = render_markdown_table().splitlines()
    assert lines[0] == "| key | env | type | default | description |"
    rows = lines[2:]
    assert len(rows) == len(SETTINGS)
    for s, row in zip(SETTINGS, rows, strict=True):
        assert row.startswith(f"| `{s.key}` | `{s.env}`")
    duration_rows = [r for r, s in zip(rows, SETTINGS, strict=True) if s.type is Duration]
    assert all("duration (s)" in r for r in duration_rows)


def test_write_generated_files(tmp_path):
    written = write_generated_files(tmp_path)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "config/gateway.example.toml",
        "docs/configuration.md",
    }
    example = (tmp_path / "config" / "gateway.example.toml").read_text(encoding="utf-8")
    assert example == render_example_toml()


def test_docs_main_prints_example(capsys):
    assert config_docs.main(["--example"]) == 0
    assert capsys.readouterr().out == render_example_toml()


def test_standard_webhooks_needs_post_and_a_whsec_secret() -> None:
    """A GET has no body to sign (its parameters would go unsigned), and the scheme's
    key is whsec_ + base64 of 24 to 64 bytes: anything else is refused at load."""
    env = {"SMPP_GATEWAY_HTTP_API_KEYS": "k"}
    good = "whsec_" + base64.b64encode(bytes(32)).decode()
    with pytest.raises(ConfigError) as caught:
        build_config({"webhooks": {"signature_scheme": "standard-webhooks", "secret": "plain"}},
                     environ=env)  # fmt: skip
    text = str(caught.value)
    assert "webhooks.method = POST" in text and "whsec_" in text
    cfg = build_config(
        {"webhooks": {"signature_scheme": "standard-webhooks", "secret": good, "method": "POST"}},
        environ=env,
    )
    assert cfg.webhooks.signature_scheme == "standard-webhooks"

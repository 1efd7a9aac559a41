"""check-config on the HTTPS settings: the pair is complete, loads and matches; the CA loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config_load import (
    ConfigError,
    build_config,
    check_config_command,
    config_summary,
    load_config,
)
from gateway.server import tls_settings
from tests.tlscerts import Pki

KEYS = {"SMPP_GATEWAY_HTTP_API_KEYS": "k1"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    pki = Pki(directory)
    ca = pki.authority("ca")
    server = pki.issue(ca, "server", ["127.0.0.1"])
    other = pki.issue(ca, "other", ["127.0.0.1"])
    garbage = directory / "garbage.pem"
    garbage.write_text("not a certificate\n")
    return {
        "cert": server.cert, "key": server.key, "other_key": other.key, "ca": ca.cert,
        "locked_key": pki.encrypted_key(server, b"secret"), "garbage": garbage,
        "missing": directory / "missing.pem",
    }  # fmt: skip


def problems(**http: object) -> list[str]:
    """The config's problems with these [http] settings (tls_key_file: the key's file)."""
    try:
        build_config({"http": {k: str(v) for k, v in http.items()}}, KEYS)
    except ConfigError as exc:
        return exc.problems
    return []


def test_a_complete_pair_and_a_client_ca_pass_and_turn_on_https(pki):
    given = {"tls_certificate": pki["cert"], "tls_key_file": pki["key"]}
    assert problems(**given, tls_client_ca=pki["ca"]) == []
    cfg = build_config({"http": {k: str(v) for k, v in given.items()}}, KEYS)
    assert cfg.http.tls_key == pki["key"].read_text().strip()  # the key itself, a secret
    assert "BEGIN" not in repr(cfg.http) and "BEGIN" not in str(config_summary(cfg))
    assert tls_settings(cfg.http) == {"certfile": str(pki["cert"])}
    assert tls_settings(build_config({}, KEYS).http) == {}


def test_relative_file_names_are_relative_to_the_config_file(pki, tmp_path):
    for name in ("cert", "key", "ca"):
        (tmp_path / pki[name].name).write_bytes(pki[name].read_bytes())
    path = tmp_path / "gateway.toml"
    path.write_text(
        f'[http]\ntls_certificate = "{pki["cert"].name}"\ntls_key_file = "{pki["key"].name}"\n'
        f'tls_client_ca = "{pki["ca"].name}"\n'
    )
    cfg = load_config(str(path), KEYS)
    assert cfg.http.tls_certificate == str(tmp_path / pki["cert"].name)
    assert cfg.http.tls_client_ca == str(tmp_path / pki["ca"].name)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"tls_certificate": "cert"}, "http.tls_key: required with http.tls_certificate"),
        ({"tls_key_file": "key"}, "http.tls_certificate: required with http.tls_key"),
        ({"tls_client_ca": "ca"}, "http.tls_certificate: required with http.tls_client_ca"),
    ],
)
def test_half_a_configuration_is_refused(pki, given, expected):
    (problem,) = problems(**{name: pki[file] for name, file in given.items()})
    assert problem.startswith(expected)


def test_unreadable_files_are_refused_naming_the_setting(pki):
    (found,) = problems(tls_certificate=pki["missing"], tls_key_file=pki["key"])
    assert found.startswith("http.tls_certificate: cannot read")
    (found,) = problems(tls_certificate=pki["cert"], tls_key_file=pki["missing"])
    assert found.startswith("http.tls_key: cannot read secret file")
    (found,) = problems(
        tls_certificate=pki["cert"], tls_key_file=pki["key"], tls_client_ca=pki["missing"]
    )
    assert found.startswith("http.tls_client_ca: cannot read")


@pytest.mark.parametrize(
    ("cert", "key", "words"),
    [
        ("cert", "other_key", "http.tls_key: does not load"),  # the key of another certificate
        ("cert", "locked_key", "http.tls_key: the key is encrypted"),
        ("cert", "garbage", "http.tls_key: does not load"),
        ("garbage", "key", "http.tls_certificate: "),
    ],
)
def test_a_pair_that_does_not_load_is_refused(pki, cert, key, words):
    (problem,) = problems(tls_certificate=pki[cert], tls_key_file=pki[key])
    assert problem.startswith(words)
    assert "PRIVATE KEY" not in problem  # the secret is never echoed


def test_a_client_ca_file_without_a_certificate_is_refused(pki):
    (problem,) = problems(
        tls_certificate=pki["cert"], tls_key_file=pki["key"], tls_client_ca=pki["garbage"]
    )
    assert problem.startswith("http.tls_client_ca:")


def test_check_config_command_reports_a_certificate_without_key(pki, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SMPP_GATEWAY_HTTP_API_KEYS", "k1")
    path = tmp_path / "gateway.toml"
    path.write_text(f'[http]\ntls_certificate = "{pki["cert"]}"\n')
    assert check_config_command(str(path)) == 1
    assert "http.tls_key: required with http.tls_certificate" in capsys.readouterr().err

"""check-config on the HTTPS settings: the pair is complete, loads and matches; the CA loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, build_config, check_config_command
from gateway.server import tls_settings
from tests.tlscerts import Authority

KEYS = {"SMPP_GATEWAY_HTTP_API_KEYS": "k1"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    ca = Authority(directory, "ca")
    server = ca.issue("server", server=True)
    other = ca.issue("other", server=True)
    locked = ca.issue("locked", server=True, password=b"secret")
    garbage = directory / "garbage.pem"
    garbage.write_text("not a certificate\n")
    return {
        "cert": server.cert, "key": server.key, "other_key": other.key, "ca": ca.pem,
        "locked_cert": locked.cert, "locked_key": locked.key, "garbage": garbage,
        "missing": directory / "missing.pem",
    }  # fmt: skip


def problems(**http: object) -> list[str]:
    try:
        build_config({"http": {k: str(v) for k, v in http.items()}}, KEYS)
    except ConfigError as exc:
        return exc.problems
    return []


def test_a_complete_pair_and_a_client_ca_pass_and_turn_on_gunicorn_tls(pki):
    assert problems(tls_certificate=pki["cert"], tls_key=pki["key"], tls_client_ca=pki["ca"]) == []
    cfg = build_config(
        {"http": {"tls_certificate": str(pki["cert"]), "tls_key": str(pki["key"])}}, KEYS
    )
    settings = tls_settings(cfg.http)
    assert settings["certfile"] == str(pki["cert"]) and "ca_certs" not in settings
    assert tls_settings(build_config({}, KEYS).http) == {}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"tls_certificate": "cert"}, "http.tls_key: required with http.tls_certificate"),
        ({"tls_key": "key"}, "http.tls_certificate: required with http.tls_key"),
        ({"tls_client_ca": "ca"}, "http.tls_certificate: required with http.tls_client_ca"),
    ],
)
def test_half_a_configuration_is_refused(pki, given, expected):
    assert problems(**{name: pki[file] for name, file in given.items()}) == [expected]


def test_unreadable_files_are_refused_naming_the_setting(pki):
    found = problems(tls_certificate=pki["missing"], tls_key=pki["key"])
    assert len(found) == 1 and found[0].startswith("http.tls_certificate: cannot read")
    found = problems(tls_certificate=pki["cert"], tls_key=pki["key"], tls_client_ca=pki["missing"])
    assert len(found) == 1 and found[0].startswith("http.tls_client_ca: cannot read")


@pytest.mark.parametrize(
    ("cert", "key", "words"),
    [
        ("cert", "other_key", "http.tls_key:"),  # a key of another certificate
        ("locked_cert", "locked_key", "encrypted"),
        ("garbage", "key", "http.tls_certificate:"),
    ],
)
def test_a_pair_that_does_not_load_is_refused(pki, cert, key, words):
    (problem,) = problems(tls_certificate=pki[cert], tls_key=pki[key])
    assert words in problem


def test_a_client_ca_file_without_a_certificate_is_refused(pki):
    (problem,) = problems(
        tls_certificate=pki["cert"], tls_key=pki["key"], tls_client_ca=pki["garbage"]
    )
    assert problem.startswith("http.tls_client_ca:")


def test_check_config_command_reports_a_certificate_without_key(pki, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SMPP_GATEWAY_HTTP_API_KEYS", "k1")
    path = tmp_path / "gateway.toml"
    path.write_text(f'[http]\ntls_certificate = "{pki["cert"]}"\n')
    assert check_config_command(str(path)) == 1
    assert "http.tls_key: required with http.tls_certificate" in capsys.readouterr().err

"""[clients.NAME] tables: parsing, every problem check-config reports, and each policy
decision (gateway/clients.py, pure)."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime

import pytest

from gateway.clients import DEFAULT, Client, Directory, key_hash, new_key, parse, quota_periods
from gateway.config_load import ConfigError, build_config
from gateway.store import open_store

ENV = {"SMPP_GATEWAY_HTTP_API_KEYS": "global-key"}


def test_global_keys_are_the_default_client_and_tables_add_clients() -> None:
    cfg = build_config(
        {"clients": {"crm": {"api_keys": ["crm-key", f"sha256:{key_hash('crm-2')}"]}}}, ENV
    )
    directory = Directory(cfg.clients)
    assert directory.names == (DEFAULT, "crm")
    found = directory.find("global-key")
    assert found is not None and found.name == DEFAULT
    assert [directory.find(k).name for k in ("crm-key", "crm-2")] == ["crm", "crm"]  # type: ignore[union-attr]
    assert directory.find("nobody") is None


def test_clients_without_global_keys_are_enough() -> None:
    cfg = build_config({"clients": {"crm": {"api_keys": ["crm-key"]}}}, {})
    assert [c.name for c in cfg.clients] == ["crm"]
    with pytest.raises(ConfigError, match=r"clients\.NAME"):
        build_config({}, {})  # no key anywhere


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"api_keys": []}, "crm.api_keys: at least one key"),
        ({"api_keys": ["sha256:abc"]}, "64 hex digits"),
        ({"api_keys": ["k"], "allowed_countries": ["XX"]}, "'XX' is no ISO 3166"),
        ({"api_keys": ["k"], "denied_prefixes": ["+44x"]}, "prefixes are digits"),
        ({"api_keys": ["k"], "allowed_ips": ["10.0.0.0/33"]}, "crm.allowed_ips: '10.0.0.0/33'"),
        ({"api_keys": ["k"], "rate": -1}, "rate: expected a number >= 0"),
        ({"api_keys": ["k"], "colour": "red"}, "crm.colour: unknown key"),
        ({"api_keys": ["k"], "senders": ["Acme*"], "default_sender": "Other"}, "default_sender"),
        ({"api_keys": ["global-key"]}, "a key of client 'default' too"),
        ({"api_keys": ["k"], "callback_url": "ftp://x/"}, "crm.callback_url:"),
        ({"api_keys": ["k"], "allowed_callback_hosts": ["a b"]}, "crm.allowed_callback_hosts:"),
    ],
)
def test_each_problem_is_reported(table: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_config({"clients": {"crm": table}}, ENV)
    assert problem in str(caught.value)


def test_a_bad_name_is_refused() -> None:
    _, problems = parse({"bad name!": {"api_keys": ["k"]}}, ())
    assert problems and "letters, digits" in problems[0]


def test_policy_decisions() -> None:
    client, problems = parse(
        {
            "crm": {
                "api_keys": ["k"],
                "senders": ["Acme*", "12345"],
                "allowed_countries": ["DE", "AUT"],
                "denied_prefixes": ["4915"],
                "allowed_ips": ["10.0.0.0/8", "::1/128"],
            }
        },
        (),
    )
    assert not problems
    crm: Client = client[0]
    assert crm.sender_refusal("AcmeBank") is None and crm.sender_refusal("12345") is None
    assert "Other" in (crm.sender_refusal("Other") or "")
    assert crm.receiver_refusal("491701234567") is None  # DE
    assert crm.receiver_refusal("436641234567") is None  # AT by its alpha-3
    assert "CHE" in (crm.receiver_refusal("41791234567") or "")
    assert "denied prefix" in (crm.receiver_refusal("491511234567") or "")
    assert crm.admits("10.1.2.3") and crm.admits("::1")
    assert not crm.admits("127.0.0.1") and not crm.admits("not an address")
    assert crm.allowed_ips[0] == ipaddress.ip_network("10.0.0.0/8")


def test_no_policy_allows_everything() -> None:
    anyone = Client("x")
    assert anyone.sender_refusal("Whoever") is None
    assert anyone.receiver_refusal("12025550123") is None and anyone.admits("192.0.2.1")


def test_new_key_names_the_key_by_its_hash_only() -> None:
    key, lines = new_key("crm")
    assert key not in lines and key_hash(key) in lines
    cfg = build_config({"clients": {"crm": {"api_keys": [lines.split('"')[1]]}}}, {})
    assert Directory(cfg.clients).find(key) is not None


def test_quota_periods_and_when_they_reset() -> None:
    client = Client("x", quota_day=10, quota_month=100)
    now = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    (day, limit, day_reset), (month, month_limit, month_reset) = quota_periods(client, now)
    assert (day, limit, month, month_limit) == ("2026-12-31", 10, "2026-12", 100)
    assert day_reset == month_reset == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    assert quota_periods(Client("none"), now) == []


def test_spend_quota_counts_all_periods_or_none(tmp_path) -> None:
    store = open_store(str(tmp_path / "q.db"))
    try:
        limits = [("2026-12-01", 5), ("2026-12", 7)]
        assert store.spend_quota("x", limits, 3) is None
        assert store.spend_quota("x", limits, 3) == "2026-12-01"  # 6 > 5: nothing counted
        assert store.spend_quota("x", limits, 2) is None  # 5 today, 5 this month
        assert store.spend_quota("x", [("2026-12-02", 5), ("2026-12", 7)], 3) == "2026-12"
        assert store.spend_quota("y", limits, 5) is None  # another client's own count
    finally:
        store.close()


def test_a_clients_own_standard_webhooks_needs_post_and_a_whsec_secret() -> None:
    whsec = "whsec_" + base64.b64encode(bytes(32)).decode()
    crm = {"api_keys": ["k"], "signature_scheme": "standard-webhooks", "webhook_secret": whsec}
    with pytest.raises(ConfigError, match=r"webhooks\.method = POST"):
        build_config({"clients": {"crm": crm}}, {})
    cfg = build_config({"clients": {"crm": crm}, "webhooks": {"method": "POST"}}, {})
    assert cfg.clients[0].webhook_secret == whsec and whsec not in repr(cfg.clients[0])
    with pytest.raises(ConfigError, match="whsec_"):
        build_config({"clients": {"crm": {**crm, "webhook_secret": "plain"}}}, {})

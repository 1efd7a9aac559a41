"""Webhook URL checks (gateway/webhooks/urls.py): one target per URL, whichever parser reads it.

The integration twin, tests/integration/test_ssrf.py, sends the same forms through a real
daemon towards a canary receiver.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from urllib3.util import parse_url

from gateway.http.compose import callback_url
from gateway.http.params import BadParameter
from gateway.webhooks.attempt import Targets
from gateway.webhooks.urls import AllowList, UnsafeUrl, check_url, parse_entry

# (url, expected canonical URL) for URLs that are accepted
CANONICAL = [
    ("http://cb.example/x", "http://cb.example/x"),
    ("HTTP://CB.EXAMPLE/X", "http://cb.example/X"),  # the path keeps its case
    ("http://cb.example:80/x", "http://cb.example/x"),
    ("http://cb.example:0080/x", "http://cb.example/x"),
    ("https://cb.example:443/x", "https://cb.example/x"),
    ("http://cb.example:443/x", "http://cb.example:443/x"),
    ("http://cb.example:/x", "http://cb.example/x"),
    ("http://cb.example./x", "http://cb.example/x"),
    ("http://cb.example", "http://cb.example/"),
    ("http://cb.example#@127.0.0.1:9/", "http://cb.example/"),  # the fragment is not sent
    ("http://cb.example?@127.0.0.1:9/", "http://cb.example/?@127.0.0.1:9/"),
    ("http://cb.example/x?a=1#frag", "http://cb.example/x?a=1"),
    ("http://[::1]:8000/cb", "http://[::1]:8000/cb"),
    ("http://[0:0:0:0:0:0:0:1]:8000/cb", "http://[::1]:8000/cb"),
    ("http://127.0.0.1.:9/x", "http://127.0.0.1:9/x"),
    ("http://cb.example/t?id=<msgid>&st=$status$&to=~receiver~", None),  # placeholders kept
]

# (url, words of the reason)
REFUSED = [
    ("http://127.0.0.1:28298\\@cb.example/x", "backslash"),
    ("HTTP://127.0.0.1:28298\\@CB.EXAMPLE:80/x", "backslash"),
    ("http://cb.example\\@127.0.0.1/", "backslash"),
    ("http://u:p@cb.example/", "user information"),
    ("http://@cb.example/", "user information"),
    ("http://cb.example@127.0.0.1:9/", "user information"),
    ("http://cb.example;x@127.0.0.1/", "user information"),
    ("http://a＃@cb.example/", "ASCII"),  # fullwidth number sign
    ("http://ｃｂ.example/", "ASCII"),
    ("http://bücher.example/", "xn--"),
    ("http://[abc/", "not a valid"),
    ("http://[::1/", "not a valid"),
    ("http://cb.example:+80/", "not a valid"),
    ("http://cb.example:80:80/", "not a valid"),
    ("http://cb.example:99999/", "absolute"),
    ("http://cb.example:0/", "port from 1 to 65535"),
    ("http://cb.example/a b", "whitespace"),
    ("http://cb.example\t/x", "whitespace"),
    ("http://cb.example/\r\nX-Injected: 1", "control"),
    ("http://cb.example/\x00", "control|NUL"),
    ("http://cb.example/\x7f", "control"),
    ("http://2130706433/", "dotted-decimal"),
    ("http://0x7f000001/", "dotted-decimal"),
    ("http://0x7f.0.0.1/", "dotted-decimal"),
    ("http://0177.0.0.1/", "dotted-decimal"),
    ("http://127.1/", "dotted-decimal"),
    ("http://127.0.1/", "dotted-decimal"),
    ("http://1.2.3.4.5/", "dotted-decimal"),
    ("http://[fe80::1%25eth0]/", "zone"),
    ("http://%31%32%37.0.0.1/", "valid host"),
    ("http://a..b/", "valid host"),
    ("ftp://cb.example/", "absolute"),
    ("javascript:alert(1)", "absolute"),
    ("//cb.example/x", "absolute"),
    ("http:cb.example/x", "absolute"),
    ("http:/cb.example/x", "absolute"),
    ("http:///cb.example/x", "host"),
    ("", "absolute"),
]


@pytest.mark.parametrize(("url", "canonical"), CANONICAL)
def test_accepted_urls_have_one_target_and_a_canonical_form(url: str, canonical: str | None):
    target = check_url(url)
    assert target.url == (canonical or url)
    assert check_url(target.url) == target  # canonical is a fixed point
    # both parsers read the stored URL as going to the target
    opened, split = parse_url(target.url), urlsplit(target.url)
    assert (opened.host or "").strip("[]") == split.hostname == target.host
    assert (opened.port or {"http": 80, "https": 443}[opened.scheme or ""]) == target.port


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_refused_urls_say_why_without_quoting_the_url(url: str, reason: str):
    with pytest.raises(UnsafeUrl, match=reason) as refused:
        check_url(url)
    assert url not in str(refused.value) or not url


@pytest.mark.parametrize(
    ("url", "reason"),
    [*(case for case in REFUSED if case[0]), ("http://cb.example/" + "a" * 2048, "2048")],
)
def test_a_refused_callback_is_a_400_naming_callback_even_with_callbacks_disabled(
    url: str, reason: str
):
    for hosts in ((), ("cb.example", "127.0.0.1")):
        with pytest.raises(BadParameter, match=reason) as refused:
            callback_url({"callback": url}, hosts)
        assert refused.value.name == "callback"


@pytest.mark.parametrize(
    ("url", "entries", "allowed"),
    [
        ("http://cb.example/", ("cb.example:80",), True),
        ("http://cb.example:80/", ("cb.example:80",), True),
        ("HTTP://CB.EXAMPLE:80/", ("cb.example:80",), True),
        ("http://cb.example./", ("CB.EXAMPLE.:80",), True),
        ("https://cb.example/", ("cb.example:80",), False),
        ("https://cb.example/", ("cb.example:443",), True),
        ("http://cb.example:8080/", ("cb.example",), True),  # no port: any port
        ("http://cb.example:8080/", ("cb.example:80",), False),
        ("http://a.cb.example/", ("*.cb.example",), True),
        ("http://cb.example/", ("*.cb.example",), False),
        ("http://evilcb.example/", ("*.cb.example",), False),
        ("http://a.cb.example:9/", ("*.cb.example:8",), False),
        ("http://[::1]:8000/", ("[::1]:8000",), True),
        ("http://[::1]:8000/", ("::1",), True),
        ("http://[::1]:8000/", ("[0::1]",), True),
        ("http://[::ffff:127.0.0.1]:9/", ("127.0.0.1",), False),  # mapped: another address
        ("http://127.0.0.1:9/", ("127.0.0.1:9",), True),
        ("http://127.0.0.1:10/", ("127.0.0.1:9",), False),
    ],
)
def test_allow_list_entries_match_the_normal_target(url: str, entries: tuple[str, ...], allowed):
    assert AllowList.parse(entries).allows(check_url(url)) is allowed
    if allowed:
        assert callback_url({"callback": url}, entries) == check_url(url).url
    else:
        with pytest.raises(BadParameter, match="not on the allowed callback host list"):
            callback_url({"callback": url}, entries)


@pytest.mark.parametrize("entry", ["a b", "*.", "cb.example:0", "[::1", "127.1", "x/y", "*.[::1]"])
def test_bad_allow_list_entries_are_refused(entry: str):
    with pytest.raises(UnsafeUrl):
        parse_entry(entry)


def test_configured_urls_join_the_allow_list():
    allowed = AllowList.parse(["cb.example"]).with_targets(["https://hooks.example:8443/cb", ""])
    assert allowed.allows(check_url("https://hooks.example:8443/other"))
    assert not allowed.allows(check_url("https://hooks.example/cb"))
    assert allowed.allows(check_url("http://cb.example:1/"))


@pytest.mark.parametrize(
    ("url", "request_uri", "shown_host", "shown_url"),
    [
        ("http://cb.example/a/../b?x=1", "/b?x=1", "cb.example", "http://cb.example/b"),
        ("https://cb.example:443", "/", "cb.example", "https://cb.example/"),
        ("http://[::1]:8080/cb?k=v", "/cb?k=v", "[::1]:8080", "http://[::1]:8080/cb"),
    ],
)
def test_a_target_carries_what_is_sent_and_what_is_logged(
    url: str, request_uri: str, shown_host: str, shown_url: str
):
    target = check_url(url)
    assert target.request_uri == request_uri
    assert parse_url(target.url).request_uri == request_uri  # what urllib3 would send
    assert (target.shown_host, target.shown_url) == (shown_host, shown_url)


def test_targets_remember_answers_and_refusals():
    targets = Targets(AllowList.parse(["cb.example"]))
    first = targets.resolve("http://cb.example/x")
    assert targets.resolve("http://cb.example/x") is first
    assert targets.resolve("http://cb.example/x?id=1") == first.with_query("id=1")
    for _ in range(2):
        with pytest.raises(UnsafeUrl, match="allowed_callback_hosts"):
            targets.resolve("http://other.example/x")
    with pytest.raises(UnsafeUrl, match="user information"):
        targets.resolve("http://u@cb.example/")


_BASES = st.sampled_from(
    [
        "http://cb.example",
        "http://cb.example/",
        "HTTP://CB.Example.:80/a/./b/../c",
        "https://[::1]:8443/cb",
        "http://127.0.0.1:8080/x;y",
        "http://u@cb.example/x",  # refused: user info
        "http://2130706433/x",  # refused: a numeric host
        "http://cb.example/p%2e%2E/q",
        "http://cb.example/<msgid>/{x}",
        "http://cb.example/p#frag",  # what follows # is not sent, ? included
    ]
)
_QUERIES = st.one_of(
    st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=4).map(urlencode),
    st.text(alphabet="abcXYZ09%+=&-_.~/?#:@!$'()*,;[] ", max_size=30),
)


@settings(max_examples=400, deadline=None)
@given(_BASES, _QUERIES)
@example("http://cb.example/x", "a=%2e")  # urllib3 upper-cases %xx
@example("http://cb.example/x", "a=b#c")  # a fragment is not sent
@example("http://cb.example/x", "a=b?c")
@example("http://cb.example/x", "a=b c")  # refused: whitespace
def test_a_remembered_target_is_the_target_the_full_check_gives(base: str, query: str):
    url = f"{base}?{query}"
    try:
        expected = check_url(url)
    except UnsafeUrl:
        with pytest.raises(UnsafeUrl):
            Targets().resolve(url)
        return
    targets = Targets()
    for _ in range(2):  # first from the check, then from memory
        got = targets.resolve(url)
        assert (got.scheme, got.host, got.port) == (expected.scheme, expected.host, expected.port)
        assert got.request_uri == expected.request_uri == parse_url(url).request_uri

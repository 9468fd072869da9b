"""X-Forwarded-* believed only from AUTHSERVER_TRUSTED_PROXIES (issue 10, "Behind a proxy")."""

import re

import pytest

from authserver.http.proxies import TrustedProxies
from authserver.networks import parse_address, parse_networks


def scope_from(peer: str, *headers: tuple[str, str]) -> dict[str, object]:
    return {
        "type": "http",
        "client": (peer, 50000),
        "scheme": "http",
        "headers": [(b"host", b"auth.internal:8000")]
        + [(name.encode(), value.encode()) for name, value in headers],
    }


PROXIES = TrustedProxies(parse_networks("10.0.0.0/8, 192.0.2.10"))


def test_headers_from_an_untrusted_peer_are_dropped_and_change_nothing() -> None:
    scope = scope_from(
        "203.0.113.7",
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "for=6.6.6.6"),
    )
    PROXIES.apply(scope)
    assert scope["client"] == ("203.0.113.7", 50000)
    assert scope["scheme"] == "http"
    assert scope["headers"] == [(b"host", b"auth.internal:8000")]


def test_no_trusted_proxies_by_default_so_even_loopback_is_not_believed() -> None:
    scope = scope_from("127.0.0.1", ("x-forwarded-for", "6.6.6.6"))
    TrustedProxies(()).apply(scope)
    assert scope["client"] == ("127.0.0.1", 50000)
    assert scope["headers"] == [(b"host", b"auth.internal:8000")]


def test_a_trusted_proxy_gives_the_client_address_scheme_and_host() -> None:
    scope = scope_from(
        "10.1.2.3",
        ("x-forwarded-for", "198.51.100.4"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "auth.example.com"),
    )
    PROXIES.apply(scope)
    assert scope["client"] == ("198.51.100.4", 0)
    assert scope["scheme"] == "https"
    assert (b"host", b"auth.example.com") in scope["headers"]
    assert (b"host", b"auth.internal:8000") not in scope["headers"]


def test_a_client_cannot_prepend_a_forged_hop() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; the proxy appended the address it saw.
    scope = scope_from("10.1.2.3", ("x-forwarded-for", "6.6.6.6, 198.51.100.4"))
    PROXIES.apply(scope)
    assert scope["client"] == ("198.51.100.4", 0)


def test_chained_trusted_proxies_are_skipped_from_the_right() -> None:
    scope = scope_from("10.1.2.3", ("x-forwarded-for", "6.6.6.6, 198.51.100.4, 192.0.2.10"))
    PROXIES.apply(scope)
    assert scope["client"] == ("198.51.100.4", 0)


def test_repeated_forwarded_for_headers_are_read_as_one_list() -> None:
    scope = scope_from(
        "10.1.2.3", ("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.4")
    )
    PROXIES.apply(scope)
    assert scope["client"] == ("198.51.100.4", 0)


@pytest.mark.parametrize("garbage", ["unknown", "not an address", "6.6.6.6, _hidden", ""])
def test_an_unreadable_hop_leaves_the_proxy_as_the_client(garbage: str) -> None:
    scope = scope_from("10.1.2.3", ("x-forwarded-for", garbage))
    PROXIES.apply(scope)
    assert scope["client"] == ("10.1.2.3", 50000)


@pytest.mark.parametrize("proto", ["ftp", "https\r\nx", ""])
def test_an_unknown_scheme_is_ignored(proto: str) -> None:
    scope = scope_from("10.1.2.3", ("x-forwarded-proto", proto))
    PROXIES.apply(scope)
    assert scope["scheme"] == "http"


@pytest.mark.parametrize("host", ["evil.example/path", "a b", "x" * 300, "[::1"])
def test_a_malformed_forwarded_host_is_ignored(host: str) -> None:
    scope = scope_from("10.1.2.3", ("x-forwarded-host", host))
    PROXIES.apply(scope)
    assert (b"host", b"auth.internal:8000") in scope["headers"]


@pytest.mark.parametrize(
    ("written", "address"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7:5123", "203.0.113.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("2001:db8::1", "2001:db8::1"),
        ("unknown", None),
        ("", None),
    ],
)
def test_addresses_as_proxies_write_them(written: str, address: str | None) -> None:
    parsed = parse_address(written)
    assert (str(parsed) if parsed else None) == address


def test_a_bad_network_is_named() -> None:
    with pytest.raises(ValueError, match=re.escape("'10.0.0.0/33'")):
        parse_networks("127.0.0.1, 10.0.0.0/33")

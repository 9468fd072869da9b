"""Where browsers let a page use passkeys (WebAuthn L3 §5.1.4.1: the RP ID is a domain, the
context secure), so that pages offer them only there."""

import pytest

from authserver.passkeys.relying_party import passkeys_possible, relying_party_of


@pytest.mark.parametrize(
    ("issuer", "possible"),
    [
        ("https://login.example.com", True),
        ("https://login.example.com:8443/auth", True),
        ("http://localhost:8000", True),
        ("http://sso.localhost", True),
        ("http://127.0.0.1:8000", False),  # the development default: an IP address
        ("https://192.0.2.10", False),
        ("https://[2001:db8::1]", False),
        ("http://login.example.com", False),  # not a secure context
    ],
)
def test_passkeys_need_a_domain_in_a_secure_context(issuer: str, possible: bool) -> None:
    assert passkeys_possible(issuer) is possible


def test_the_relying_party_is_the_issuers_host_and_origin() -> None:
    rp = relying_party_of("https://login.example.com:8443/auth")
    assert (rp.id, rp.origin) == ("login.example.com", "https://login.example.com:8443")
    assert relying_party_of("https://login.example.com:443").origin == "https://login.example.com"

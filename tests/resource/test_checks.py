"""`authserver.jose`, the one JWT validator: parsing before any key is used, base64url,
JSON and the header (RFC 7515, RFC 8725)."""

import pytest
from joserfc.jwk import RSAKey

from authserver.jose import JwtRejected, VerificationKey, read_token, verify_signature
from tests.resource.forge import HEADER, access_claims, b64url, rs256, segment
from tests.resource.mock_issuer import AUDIENCE, ISSUER

RS256 = frozenset({"RS256"})
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@pytest.fixture
def good(issuer_key: RSAKey) -> str:
    return rs256({**HEADER, "kid": issuer_key.kid}, access_claims(ISSUER, AUDIENCE), issuer_key)


def test_a_good_token_is_decoded_once_and_its_signature_verified(
    good: str, issuer_key: RSAKey
) -> None:
    parsed = read_token(good, RS256, "at+jwt")
    assert (parsed.alg, parsed.kid) == ("RS256", issuer_key.kid)
    assert parsed.signing_input == good.rsplit(".", 1)[0].encode()
    assert verify_signature(parsed, VerificationKey.of(issuer_key)) == parsed.payload


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t + "=", "base64url"),  # RFC 7515 §2: no padding
        (lambda t: t.replace("-", "+").replace("_", "/") + "+/", "base64url"),
        (lambda t: t + "AAA", "base64url"),  # 345 characters: no byte string is that long
        (lambda t: t[:-1] + ALPHABET[ALPHABET.index(t[-1]) ^ 1], "canonical"),
        (lambda t: t.replace(".", "..", 1), "compact JWS"),
        (lambda t: " " + t, "base64url"),
        (lambda t: t.split(".", 1)[0], "compact JWS"),
    ],
)
def test_text_that_is_not_canonical_base64url_is_refused(
    good: str, change: object, reason: str
) -> None:
    with pytest.raises(JwtRejected, match=reason):
        read_token(change(good), RS256, "at+jwt")  # type: ignore[operator]


@pytest.mark.parametrize(
    "header",
    [
        '{"alg":"RS256","typ":"at+jwt","kid":"a","alg":"none"}',  # duplicate: one parse only
        '["RS256"]',
        '"RS256"',
        "{",
        b64url(b"\xff\xfe").join(["", ""]),
    ],
)
def test_a_header_that_is_not_one_json_object_is_refused(header: str) -> None:
    token = f"{segment(header)}.{segment(access_claims(ISSUER, AUDIENCE))}.c2ln"
    with pytest.raises(JwtRejected, match="JSON"):
        read_token(token, RS256, "at+jwt")


def test_an_alg_outside_the_allow_list_is_refused_even_if_supported(
    issuer_key: RSAKey,
) -> None:
    header = {**HEADER, "alg": "PS256", "kid": issuer_key.kid}
    token = f"{segment(header)}.{segment(access_claims(ISSUER, AUDIENCE))}.c2ln"
    with pytest.raises(JwtRejected, match="alg is not allowed"):
        read_token(token, RS256, "at+jwt")

"""The one validator's keys beyond RSA: ES256/384/512 (RFC 7518 §3.4), EdDSA (RFC 8037
§3.1), public JWKs as they arrive from outside (RFC 7517 §4) and RFC 7638 thumbprints."""

import base64
import json

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authserver.jose import (
    JwtRejected,
    JwtRules,
    JwtValidator,
    public_key_from_jwk,
    thumbprint,
)

ISSUER = "https://issuer.example.test"
NOW = 1_900_000_000
CLAIMS = {
    "iss": ISSUER, "sub": "s", "aud": "api", "exp": NOW + 60, "iat": NOW, "jti": "j",
    "client_id": "c",
}  # fmt: skip


def _keys() -> dict[str, tuple[object, dict[str, str]]]:
    """alg -> (private key, public JWK)."""
    made: dict[str, tuple[object, dict[str, str]]] = {}
    for alg, curve in (
        ("ES256", ec.SECP256R1()),
        ("ES384", ec.SECP384R1()),
        ("ES512", ec.SECP521R1()),
    ):
        key = ec.generate_private_key(curve)
        made[alg] = (key, json.loads(ECAlgorithm.to_jwk(key.public_key())))
    okp = ed25519.Ed25519PrivateKey.generate()
    made["EdDSA"] = (okp, json.loads(OKPAlgorithm.to_jwk(okp.public_key())))
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    made["PS256"] = (rsa_key, json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())))
    return made


KEYS = _keys()


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_a_token_signed_by_pyjwt_verifies_with_its_published_key(alg: str) -> None:
    private_key, jwk = KEYS[alg]
    token = jwt.encode(CLAIMS, private_key, alg, headers={"typ": "at+jwt", "kid": "k1"})  # type: ignore[arg-type]
    key = public_key_from_jwk({**jwk, "kid": "k1", "alg": alg})
    rules = JwtRules(typ="at+jwt", issuer=ISSUER, algorithms=frozenset({alg}))
    assert JwtValidator(rules).validate(token, {"k1": key}.get, NOW)["sub"] == "s"

    # One bit of the signature changed: refused.
    head, body, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[0] ^= 1
    forged = f"{head}.{body}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    with pytest.raises(JwtRejected, match="signature"):
        JwtValidator(rules).validate(forged, {"k1": key}.get, NOW)


def test_a_key_checks_only_the_algorithms_of_its_type() -> None:
    # RFC 8725 §3.1: an ES256 token is never checked with an RSA key, nor ES384 with P-256.
    es256, es256_jwk = KEYS["ES256"]
    token = jwt.encode(CLAIMS, es256, "ES256", headers={"typ": "at+jwt", "kid": "k"})  # type: ignore[arg-type]
    every = JwtRules(typ="at+jwt", issuer=ISSUER, algorithms=frozenset({"ES256", "ES384", "RS256"}))
    rsa_jwk = KEYS["PS256"][1]
    with pytest.raises(JwtRejected, match="alg does not match"):
        JwtValidator(every).validate(token, {"k": public_key_from_jwk(rsa_jwk)}.get, NOW)
    p384 = public_key_from_jwk(KEYS["ES384"][1])
    with pytest.raises(JwtRejected):
        JwtValidator(every).validate(token, {"k": p384}.get, NOW)
    # Published for ES256, the key refuses to be named for anything else.
    with pytest.raises(JwtRejected, match="alg is not supported"):
        public_key_from_jwk({**es256_jwk, "alg": "ES384"})


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        ({"kty": "oct", "k": "c2VjcmV0"}, "not RSA, EC or OKP"),
        ({**KEYS["ES256"][1], "d": "AAAA"}, "private members"),
        ({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}, "wrong length"),
        ({"kty": "EC", "crv": "secp256k1", "x": "AA", "y": "AA"}, "curve"),
        ({"kty": "OKP", "crv": "X25519", "x": KEYS["EdDSA"][1]["x"]}, "Ed25519"),
        ({"kty": "RSA", "n": "AQAB", "e": "AQAB"}, "2048"),
        ({**KEYS["ES256"][1], "use": "enc"}, "signatures"),
        ({"kty": "EC", "crv": "P-256", "x": 1, "y": 2}, "lacks a member"),
        ([], "JSON object"),
    ],
)
def test_unusable_jwks_are_refused_with_the_reason(jwk: object, reason: str) -> None:
    with pytest.raises(JwtRejected, match=reason):
        public_key_from_jwk(jwk)


def test_thumbprints_follow_rfc_7638() -> None:
    # RFC 7638 §3.1: the worked example's key and thumbprint.
    example = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    # Only the required members count: `kid`, `alg` and `use` change nothing.
    assert thumbprint({**KEYS["ES256"][1], "kid": "a"}) == thumbprint(KEYS["ES256"][1])
    assert thumbprint(KEYS["ES256"][1]) != thumbprint(KEYS["ES384"][1])

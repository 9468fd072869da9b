"""Frozen-clock edges of the one JWT validator (SECURITY-CHECKLIST "Tests that must exist" 6).

RFC 7519 §4.1.4-4.1.6 with RFC 8725's leeway: `iat`/`nbf` at most the leeway ahead, `exp`
past by at most the expiry leeway (0 at the issuer, which judges its own tokens by its
own clock; the leeway at a resource service). `now` is given, so the edges are exact.
"""

import json

import pytest
from joserfc.jwk import RSAKey

from authserver.jose import JwtRejected, JwtRules, JwtValidator, VerificationKey
from tests.resource.forge import rs256

NOW = 1_800_000_000
ISSUER = "https://issuer.example.test"


@pytest.fixture(scope="module")
def key() -> RSAKey:
    return RSAKey.generate_key(2048, {"alg": "RS256"}, auto_kid=True)


def validate(key: RSAKey, rules: JwtRules, **changes: int) -> dict[str, object]:
    claims = {"iss": ISSUER, "sub": "s", "aud": "a", "exp": NOW + 600, "iat": NOW}
    claims.update(changes)
    token = rs256({"alg": "RS256", "typ": "JWT", "kid": key.kid}, json.dumps(claims), key)
    published = {key.kid: VerificationKey.of(key)}
    return JwtValidator(rules).validate(token, published.get, NOW)


def rules(leeway: int, expiry_leeway: int = 0) -> JwtRules:
    required = frozenset({"iss", "sub", "exp", "iat"})
    return JwtRules("jwt", ISSUER, required=required, leeway=leeway, expiry_leeway=expiry_leeway)


@pytest.mark.parametrize("leeway", [0, 10, 60])
@pytest.mark.parametrize("claim", ["iat", "nbf"])
def test_a_future_iat_or_nbf_is_accepted_up_to_the_leeway_and_not_a_second_more(
    key: RSAKey, leeway: int, claim: str
) -> None:
    assert validate(key, rules(leeway), **{claim: NOW + leeway})[claim] == NOW + leeway
    with pytest.raises(JwtRejected, match=claim):
        validate(key, rules(leeway), **{claim: NOW + leeway + 1})


@pytest.mark.parametrize("expiry_leeway", [0, 60])
def test_exp_is_past_at_exp_plus_the_expiry_leeway(key: RSAKey, expiry_leeway: int) -> None:
    last_good = NOW - expiry_leeway + 1
    assert validate(key, rules(60, expiry_leeway), exp=last_good, iat=NOW - 900)["exp"] == last_good
    with pytest.raises(JwtRejected, match="expired"):
        validate(key, rules(60, expiry_leeway), exp=NOW - expiry_leeway, iat=NOW - 900)


def test_an_expired_token_is_read_where_expiry_is_not_checked(key: RSAKey) -> None:
    # An `id_token_hint` (RP-Initiated Logout §2) or an introspection answering inactive.
    lenient = JwtRules("jwt", ISSUER, required=frozenset({"exp"}), check_expiry=False)
    assert validate(key, lenient, exp=NOW - 3600)["exp"] == NOW - 3600


def test_a_key_published_for_one_alg_is_never_used_with_another(key: RSAKey) -> None:
    # RFC 8725 §3.1: the key's `alg` decides, even where the allow-list has both.
    ps256_key = RSAKey.import_key(key.as_dict(private=True), {"alg": "PS256", "kid": key.kid})
    token = rs256({"alg": "RS256", "typ": "JWT", "kid": key.kid}, json.dumps({"iss": ISSUER}), key)
    both = JwtRules("jwt", ISSUER, algorithms=frozenset({"RS256", "PS256"}))
    with pytest.raises(JwtRejected, match="does not match its key"):
        JwtValidator(both).validate(token, {key.kid: VerificationKey.of(ps256_key)}.get, NOW)

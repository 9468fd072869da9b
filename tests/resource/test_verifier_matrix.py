"""The JWT attack matrix (tests/jwt_attacks.py) against the resource verifier.

The same forgeries the server refuses at `/userinfo`, `/introspect` and `id_token_hint`
(tests/http/test_jwt_matrix.py), and the audience ones, which only a resource service
checks: each is RFC 6750 §3.1 `invalid_token`, for its own reason (RFC 9068 §4, RFC 8725).
The verifier's leeway (60 s by default) applies to `exp` as well: its clock is not the
issuer's. The same matrix against a real server: tests/resource/test_live_verifier.py.
"""

import asyncio

import pytest
from joserfc.jwk import RSAKey

from authserver.resource import InvalidToken, Verifier
from tests.jwt_attacks import ACCEPTED, ATTACKS, AUDIENCE_ATTACKS, Forger, Forgery
from tests.resource.forge import access_claims
from tests.resource.mock_issuer import AUDIENCE, ISSUER

MATRIX = {**ATTACKS, **AUDIENCE_ATTACKS}


def forger(issuer_key: RSAKey, attacker_key: RSAKey) -> Forger:
    claims = access_claims(ISSUER, AUDIENCE)
    return Forger(issuer_key, attacker_key, claims, "at+jwt", leeway=60, expiry_leeway=60)


@pytest.mark.parametrize(("reason", "forge"), MATRIX.values(), ids=MATRIX.keys())
def test_a_forged_token_is_refused_for_its_reason(
    verifier: Verifier, issuer_key: RSAKey, attacker_key: RSAKey, reason: str, forge: Forgery
) -> None:
    token = forge(forger(issuer_key, attacker_key))
    with pytest.raises(InvalidToken, match=reason):
        verifier.verify(token)
    with pytest.raises(InvalidToken, match=reason):
        asyncio.run(verifier.averify(token))


@pytest.mark.parametrize("forge", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_a_token_at_the_edges_is_accepted(
    verifier: Verifier, issuer_key: RSAKey, attacker_key: RSAKey, forge: Forgery
) -> None:
    claims = verifier.verify(forge(forger(issuer_key, attacker_key)))
    assert claims.iss == ISSUER
    assert AUDIENCE in claims.aud

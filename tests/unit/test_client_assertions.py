"""Client assertions without HTTP: the claim rules at their boundaries (RFC 7523 §3), the
registered-key checks (RFC 7591 §2), and the `jwks_uri` cache's refetch gate."""

from typing import Any

import pytest

from authserver.clients.assertions import (
    MAX_LIFETIME_SECONDS,
    check_claims,
    read_assertion,
)
from authserver.clients.key_sets import (
    CACHE_SECONDS,
    MIN_REFETCH_SECONDS,
    ClientKeySets,
    jwks_problem,
)
from authserver.clients.models import Client
from authserver.clients.registration import ClientSpec, RegistrationError, validate
from authserver.jose import JwtRejected
from tests.http.keyholders import jwks_server, key_holder

NOW = 1_800_000_000
LEEWAY = 60
AUDIENCES = frozenset({"https://id.example.test", "https://id.example.test/token"})


def claims(**changes: Any) -> dict[str, Any]:
    base = {"iss": "c1", "sub": "c1", "aud": "https://id.example.test", "jti": "j1"}
    return {**base, "iat": NOW, "exp": NOW + 60, **changes}


def check(**changes: Any) -> tuple[str, int]:
    return check_claims(claims(**changes), "c1", AUDIENCES, NOW, LEEWAY)


def test_good_claims_give_the_jti_and_exp() -> None:
    assert check() == ("j1", NOW + 60)


@pytest.mark.parametrize(
    ("exp", "accepted"),
    [
        (NOW - LEEWAY + 1, True),  # RFC 7523 §3 item 4, with the clock skew allowed
        (NOW - LEEWAY, False),
        (NOW + MAX_LIFETIME_SECONDS + LEEWAY, True),  # our bound: 5 minutes, plus skew
        (NOW + MAX_LIFETIME_SECONDS + LEEWAY + 1, False),
        (float("nan"), False),  # Python's JSON reader takes NaN; a NumericDate is no NaN
        (float("inf"), False),
        (True, False),
    ],
)
def test_exp_is_in_the_future_and_not_too_far(exp: Any, accepted: bool) -> None:
    if accepted:
        check(exp=exp)
    else:
        with pytest.raises(JwtRejected):
            check(exp=exp)


@pytest.mark.parametrize("name", ["iat", "nbf"])
def test_iat_and_nbf_may_be_ahead_by_the_leeway_only(name: str) -> None:
    """RFC 7523 §3 items 5 and 6."""
    check(**{name: NOW + LEEWAY})
    with pytest.raises(JwtRejected):
        check(**{name: NOW + LEEWAY + 1})


@pytest.mark.parametrize(
    "aud",
    [["https://id.example.test/token"], "https://id.example.test/", [], None, [1]],
)
def test_aud_must_hold_an_accepted_audience_exactly(aud: Any) -> None:
    if aud == ["https://id.example.test/token"]:
        check(aud=aud)
        return
    with pytest.raises(JwtRejected):
        check(aud=aud)


def test_a_nested_or_encrypted_header_is_refused_before_any_key() -> None:
    holder = key_holder()
    for header in ({"cty": "JWT"}, {"enc": "A128GCM"}, {"x5c": ["MIIB"]}, {"kid": ""}):
        with pytest.raises(JwtRejected):
            read_assertion(holder.assertion("c1", header=header))


@pytest.mark.parametrize(
    "typ", [None, "JWT", "jwt", "application/jwt", "client-authentication+jwt"]
)
def test_typ_may_be_absent_or_jwt(typ: str | None) -> None:
    assertion = read_assertion(key_holder().assertion("c1", header={"typ": typ}))
    assert assertion.client_id == "c1"


def test_a_jwk_set_is_checked_key_by_key() -> None:
    good = key_holder().jwk
    assert jwks_problem({"keys": [good]}) is None
    assert (
        jwks_problem({"keys": [{**good, "use": "enc"}]}) == "key 0: the key is not for signatures"
    )
    assert (
        jwks_problem({"keys": [good, {**good, "d": "AA"}]}) == "key 1: the key has private members"
    )
    assert jwks_problem({"keys": [good] * 11}) == "must hold 1 to 10 keys"


def test_a_public_client_cannot_register_for_private_key_jwt() -> None:
    spec = ClientSpec(
        name="App",
        grant_types=["authorization_code"],
        redirect_uris=["https://app.example.test/cb"],
        public=True,
        token_endpoint_auth_method="private_key_jwt",
        jwks=key_holder().jwks,
    )
    with pytest.raises(RegistrationError):
        validate(spec)


def test_a_loopback_http_jwks_uri_may_be_registered_another_http_one_not() -> None:
    spec = ClientSpec(
        name="Svc",
        grant_types=["client_credentials"],
        token_endpoint_auth_method="private_key_jwt",
        jwks_uri="http://127.0.0.1:9999/jwks",
    )
    validate(spec)
    with pytest.raises(RegistrationError):
        validate(ClientSpec(**{**spec.__dict__, "jwks_uri": "http://keys.example.test/jwks"}))


def test_the_jwks_uri_cache_refetches_at_most_once_a_minute_and_expires() -> None:
    """OIDC Core §10.1.1; docs/clients.md: cached 5 minutes, refetch gate of 60 s."""
    now = [1000.0]
    first, second = key_holder(kid="a"), key_holder(kid="b", index=1)
    with jwks_server() as served:
        served.jwks = first.jwks
        client = Client(
            client_id="c1", name="c", grant_types=[], jwks_uri=served.uri,
            token_endpoint_auth_method="private_key_jwt",
        )  # fmt: skip
        sets = ClientKeySets(allow_private=True, clock=lambda: now[0])
        assert [k.jwk["kid"] for k in sets.keys_of(client)] == ["a"]
        served.jwks = second.jwks
        assert [k.jwk["kid"] for k in sets.refetch(client) or []] == ["b"]
        assert sets.refetch(client) is None  # within a minute of the last refetch
        now[0] += MIN_REFETCH_SECONDS
        assert sets.refetch(client) is not None
        assert served.fetches == 3
        now[0] += CACHE_SECONDS - 1
        sets.keys_of(client)
        assert served.fetches == 3  # still fresh
        now[0] += 1
        sets.keys_of(client)
        assert served.fetches == 4  # stale: fetched again

"""RFC 6750 §3 challenges, the `Authorization: Bearer` header, and the claims' scope checks."""

import pytest

from authserver.resource import (
    Claims,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    bearer_token,
)
from authserver.resource.errors import bearer_challenge


def test_invalid_token_is_a_401_with_an_rfc_6750_challenge() -> None:
    error = InvalidToken("the token has expired")
    assert (error.status_code, error.error) == (401, "invalid_token")
    assert error.www_authenticate == (
        'Bearer error="invalid_token", error_description="the token has expired"'
    )
    assert error.as_dict() == {
        "error": "invalid_token",
        "error_description": "the token has expired",
    }


def test_insufficient_scope_is_a_403_naming_the_scope_needed() -> None:
    error = InsufficientScope(["orders:write", "orders:read", "orders:write"])
    assert (error.status_code, error.error) == (403, "insufficient_scope")
    assert error.required == ("orders:write", "orders:read")
    assert error.www_authenticate == (
        'Bearer error="insufficient_scope", '
        'error_description="the request needs the scope orders:write orders:read", '
        'scope="orders:write orders:read"'
    )


def test_no_credentials_get_a_bare_bearer_challenge() -> None:
    # RFC 6750 §3.1: no error code when the request had no authentication information.
    assert bearer_challenge() == "Bearer"


@pytest.mark.parametrize(
    "description",
    ['a "quoted" word', "back\\slash", "new\r\nline: x", "tab\there", "caf\u00e9", "x" * 500],
)
def test_a_description_cannot_break_out_of_its_quoted_string(description: str) -> None:
    header = InvalidToken(description).www_authenticate
    quoted = header.removeprefix('Bearer error="invalid_token", error_description="')
    assert quoted.endswith('"')
    # RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E only.
    assert all(c == " " or c == "!" or "#" <= c <= "~" for c in quoted[:-1])
    assert "\\" not in quoted and '"' not in quoted[:-1] and len(quoted) <= 201


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([], None),
        (["Basic YTpi"], None),
        (["Bearer abc.def-ghi_jkl"], "abc.def-ghi_jkl"),
        (["bearer abc"], "abc"),  # RFC 9110 §11.1: the scheme is case-insensitive
        (["BEARER  abc==  "], "abc=="),
        (["Bearer a+b/c~d="], "a+b/c~d="),
    ],
)
def test_the_bearer_token_is_read_from_the_authorization_header(
    headers: list[str], token: str | None
) -> None:
    assert bearer_token(headers) == token


@pytest.mark.parametrize(
    "headers",
    [
        ["Bearer"],
        ["Bearer "],
        ["Bearer a b"],
        ["Bearer a\tb"],
        ["Bearer a=b"],
        ['Bearer "abc"'],
        ["Bearer abc", "Bearer def"],
    ],
)
def test_a_malformed_bearer_header_is_invalid_request(headers: list[str]) -> None:
    with pytest.raises(InvalidRequest) as malformed:
        bearer_token(headers)
    assert malformed.value.status_code == 400


def test_claims_read_the_scope_claim_as_a_set() -> None:
    claims = Claims({"sub": "u1", "aud": "https://a.test", "scope": "orders:read  openid"})
    assert claims.scopes == frozenset({"orders:read", "openid"})
    assert claims.has_scopes("openid") and not claims.has_scopes("openid", "orders:write")
    assert claims.aud == ("https://a.test",)
    assert Claims({"aud": ["a", "b"]}).aud == ("a", "b")
    assert Claims({}).scopes == frozenset()


def test_require_scopes_returns_the_claims_or_raises_insufficient_scope() -> None:
    claims = Claims({"sub": "u1", "scope": "orders:read"})
    assert claims.require_scopes() is claims
    assert claims.require_scopes("orders:read") is claims
    with pytest.raises(InsufficientScope) as lacking:
        claims.require_scopes("orders:read", "orders:write")
    assert lacking.value.required == ("orders:read", "orders:write")


def test_claims_are_a_read_only_mapping() -> None:
    claims = Claims({"sub": "u1", "email": "a@example.test"})
    assert dict(claims) == {"sub": "u1", "email": "a@example.test"}
    assert claims.get("email") == "a@example.test" and "sub" in claims
    with pytest.raises(TypeError):
        claims["sub"] = "u2"  # type: ignore[index]
    assert repr(claims) == "Claims(sub='u1', client_id='', scope='')"

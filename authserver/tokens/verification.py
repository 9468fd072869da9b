"""Verifying JWTs that come back to us: bearer access tokens and `id_token_hint`.

Strict by RFC 8725: RS256 only, a key of ours chosen by `kid` among the published keys
(never a key named or carried by the token: `jwk`, `jku`, `x5u`, `x5c` and `crit` are
refused), canonical base64url, no duplicate JSON members, at most 8 KiB, `iss` exact,
integer dates (60 s leeway for `iat`/`nbf` in the future, none for `exp`), and the
`typ` that tells an access token (RFC 9068 §2.1) from an id_token, so neither is
accepted as the other (RFC 8725 §3.11).
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import JWSRegistry

from authserver.keys.keyring import KeyRing
from authserver.tokens.access import ACCESS_TOKEN_TYPE

MAX_TOKEN_BYTES = 8 * 1024
LEEWAY_SECONDS = 60
_ALLOWED_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_REGISTRY = JWSRegistry(algorithms=["RS256"])

TokenKind = Literal["access_token", "id_token"]


class TokenRejectedError(ValueError):
    """The token is not one of ours, or no longer valid. The message is for logs only."""


@dataclass(frozen=True)
class VerifiedToken:
    header: dict[str, Any]
    claims: dict[str, Any]


def verify_jwt(
    token: str,
    keyring: KeyRing,
    issuer: str,
    kind: TokenKind,
    now: int,
    *,
    allow_expired: bool = False,
) -> VerifiedToken:
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise TokenRejectedError("not a compact JWS of acceptable size")
    encoded_header, encoded_payload, _ = token.split(".")
    header = _strict_json(_decode_segment(encoded_header))
    _decode_segment(encoded_payload)  # canonical base64url, checked before any crypto
    key = keyring.verification_key(_check_header(header, kind))
    if key is None:
        raise TokenRejectedError("unknown or removed kid")
    try:
        decoded = jwt.decode(
            token, key, algorithms=["RS256"], registry=_REGISTRY, decoder_cls=_NoDuplicatesDecoder
        )
    except (JoseError, ValueError) as error:
        raise TokenRejectedError(f"signature or payload: {type(error).__name__}") from None
    claims = dict(decoded.claims)
    _check_claims(claims, issuer, now, allow_expired)
    return VerifiedToken(header, claims)


def _check_header(header: dict[str, Any], kind: TokenKind) -> str:
    if not set(header) <= _ALLOWED_HEADER_MEMBERS:
        raise TokenRejectedError("header members beyond alg, typ, kid")
    if header.get("alg") != "RS256":
        raise TokenRejectedError("alg is not RS256")
    typ = str(header.get("typ", "")).lower().removeprefix("application/")
    if (typ == ACCESS_TOKEN_TYPE) != (kind == "access_token"):
        raise TokenRejectedError(f"typ does not mark an {kind}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise TokenRejectedError("no kid")
    return kid


def _check_claims(claims: dict[str, Any], issuer: str, now: int, allow_expired: bool) -> None:
    if claims.get("iss") != issuer:
        raise TokenRejectedError("iss is not this issuer")
    if not isinstance(claims.get("sub"), str):
        raise TokenRejectedError("no sub")
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf", 0)
    if not all(_is_integer(v) for v in (exp, iat, nbf)):
        raise TokenRejectedError("exp, iat and nbf must be integers")
    # Our own tokens, against our own clock: `exp` is exact (as at introspection, and as
    # the deny list is purged); only a future `iat`/`nbf` gets leeway, for replica skew.
    if not allow_expired and now >= exp:
        raise TokenRejectedError("expired")
    if iat > now + LEEWAY_SECONDS or nbf > now + LEEWAY_SECONDS:
        raise TokenRejectedError("issued or valid in the future")


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_segment(segment: str) -> bytes:
    if not _BASE64URL.match(segment):
        raise TokenRejectedError("not base64url")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRejectedError("not base64url") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != segment:
        raise TokenRejectedError("non-canonical base64url")
    return raw


def _strict_json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw, cls=_NoDuplicatesDecoder)
    except (UnicodeDecodeError, ValueError):
        raise TokenRejectedError("not a JSON object") from None
    if not isinstance(value, dict):
        raise TokenRejectedError("not a JSON object")
    return value


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(names) != len(set(names)):
        raise ValueError("duplicate member")
    return dict(pairs)


class _NoDuplicatesDecoder(json.JSONDecoder):
    def __init__(self, **kwargs: Any) -> None:
        kwargs["object_pairs_hook"] = _reject_duplicates
        super().__init__(**kwargs)

"""The checks on a JWT access token: RFC 9068 §4, in the strict form RFC 8725 asks for.

Before any key is looked up: a compact JWS of at most 8 KiB in canonical base64url, a
header of only `alg`, `typ` and `kid` (so `jku`, `x5u`, `jwk`, `x5c` and `crit` are refused
and never fetched, RFC 8725 §3.10), an `alg` from the verifier's allow-list (RFC 8725
§3.1: never chosen by the token alone) and `typ` `at+jwt` (RFC 9068 §4 step 1, RFC 8725
§3.11: an id_token is never an access token). After the signature: the claims.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

from authserver.resource.claims import Claims
from authserver.resource.errors import InvalidToken

MAX_TOKEN_BYTES = 8 * 1024
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type (RFC 9068 §2.1), no secret
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
# Asymmetric algorithms with RSA keys; `none` and the HMACs can never be allowed.
SUPPORTED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Characters in the last group of 4 -> the low bits of its last character that encode nothing.
_UNUSED_BITS = {0: 0, 2: 0b1111, 3: 0b11}


@dataclass(frozen=True)
class CompactJws:
    """A token split and decoded once (RFC 7515 §7.1), its header checked."""

    alg: str
    kid: str
    signing_input: bytes
    payload: bytes
    signature: bytes


def read_token(token: object, algorithms: frozenset[str]) -> CompactJws:
    """The token decoded, with its header checked before any key or network is involved."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise InvalidToken("the token is not a compact JWS of at most 8 KiB")
    encoded_header, encoded_payload, encoded_signature = token.split(".")
    alg, kid = check_header(_json_object(_decode_segment(encoded_header)), algorithms)
    return CompactJws(
        alg=alg,
        kid=kid,
        signing_input=f"{encoded_header}.{encoded_payload}".encode("ascii"),
        payload=_decode_segment(encoded_payload),
        signature=_decode_segment(encoded_signature),
    )


def check_header(header: dict[str, Any], algorithms: frozenset[str]) -> tuple[str, str]:
    """(alg, kid) of a header that passes RFC 8725 §3.1, §3.10, §3.11 and RFC 9068 §4."""
    # RFC 8725 §3.10, RFC 7515 §4.1.2-4.1.6, §4.1.11: no key named or carried by the token.
    if not header.keys() <= _HEADER_MEMBERS:
        raise InvalidToken("the token header has members other than alg, typ and kid")
    alg = header.get("alg")
    # RFC 8725 §3.1: the allow-list decides the algorithm, not the token.
    if not isinstance(alg, str) or alg not in algorithms:
        raise InvalidToken("the token's alg is not allowed")
    typ = header.get("typ")
    # RFC 9068 §4 step 1: `at+jwt`, or `application/at+jwt` (media types ignore case).
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != ACCESS_TOKEN_TYPE:
        raise InvalidToken("the token is not a JWT access token (typ)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidToken("the token header has no kid")
    return alg, kid


def verify_signature(token: CompactJws, key: RSAKey) -> bytes:
    """The payload, once the signature verifies with `key` and the allowed `alg` (RFC 7515 §5.2)."""
    # RFC 8725 §3.1: a key published for one algorithm is used with that one only.
    if key.alg is not None and key.alg != token.alg:
        raise InvalidToken("the token's alg does not match its key")
    # joserfc's algorithm maps `alg` to padding and hash; the token was parsed above, once.
    algorithm = JWSRegistry.algorithms[token.alg]
    try:
        valid = algorithm.verify(token.signing_input, token.signature, key)
    except (JoseError, ValueError):
        valid = False
    if not valid:
        raise InvalidToken("the token's signature is invalid")
    return token.payload


def check_claims(payload: bytes, issuer: str, audience: str, now: int, leeway: int) -> Claims:
    """RFC 9068 §4 steps 3, 4 and 6, and the claims RFC 9068 §2.2 requires."""
    claims = _json_object(payload)
    missing = [name for name in REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise InvalidToken(f"the token lacks the claims {' '.join(missing)}")
    # RFC 9068 §4 step 3: the issuer matches exactly.
    if claims["iss"] != issuer:
        raise InvalidToken("the token was not issued by the expected issuer")
    # RFC 9068 §4 step 4: the audience names this resource.
    if not _audience_contains(claims["aud"], audience):
        raise InvalidToken("the token is not meant for this service (aud)")
    if not all(isinstance(claims[name], str) and claims[name] for name in ("sub", "jti")):
        raise InvalidToken("the token's sub and jti must be strings")
    if not isinstance(claims["client_id"], str) or not claims["client_id"]:
        raise InvalidToken("the token's client_id must be a string")
    if not isinstance(claims.get("scope", ""), str):
        raise InvalidToken("the token's scope must be a string")
    _check_dates(claims, now, leeway)
    return Claims(claims)


def _check_dates(claims: dict[str, Any], now: int, leeway: int) -> None:
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
    if not all(_is_integer(value) for value in (exp, iat, nbf)):
        raise InvalidToken("the token's exp, iat and nbf must be integers")
    # RFC 9068 §4 step 6, RFC 7519 §4.1.4: expired, allowing for clock skew.
    if now >= exp + leeway:
        raise InvalidToken("the token has expired")
    # RFC 7519 §4.1.5: not before.
    if nbf > now + leeway:
        raise InvalidToken("the token is not valid yet (nbf)")
    if iat > now + leeway:
        raise InvalidToken("the token was issued in the future (iat)")


def _audience_contains(aud: object, audience: str) -> bool:
    # RFC 7519 §4.1.3: one string, or an array of strings.
    if isinstance(aud, str):
        return aud == audience
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and audience in aud


def _is_integer(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _decode_segment(segment: str) -> bytes:
    """RFC 7515 §2: base64url without padding, and only the canonical encoding."""
    unused_bits = _UNUSED_BITS.get(len(segment) % 4)
    if unused_bits is None or not _BASE64URL.fullmatch(segment):
        raise InvalidToken("the token is not base64url")
    # RFC 4648 §3.5: in the canonical encoding the bits past the last byte are zero.
    if _BASE64URL_ALPHABET.index(segment[-1]) & unused_bits:
        raise InvalidToken("the token is not canonical base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("the token is not base64url") from None


def _json_object(raw: bytes) -> dict[str, Any]:
    """RFC 7515 §5.2 step 4, RFC 7519 §7.2 step 10: a JSON object; duplicate names refused."""
    try:
        value = _JSON.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidToken("the token is not JSON, or repeats a member name") from None
    if not isinstance(value, dict):
        raise InvalidToken("the token is not a JSON object")
    return value


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


_JSON = json.JSONDecoder(object_pairs_hook=_without_duplicates)

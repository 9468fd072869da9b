"""Client assertions, the JWTs of `private_key_jwt` (RFC 7523 §2.2 and §3, OpenID Connect
Core §9): read before any key is looked up, then their claims and signature judged.

Stricter than RFC 7523 asks, deliberately (docs/clients.md):
- at most 8 KiB, a compact JWS whose header holds only `alg`, `kid` and `typ`: a key the
  token names or carries (`jku`, `x5u`, `jwk`, `x5c`) is never used, nor any `crit`
  extension understood, so such a header refuses the assertion (RFC 8725 §3.10);
- an asymmetric `alg` only: `none` and the HMACs are refused (RFC 8725 §2.1, §3.1), so an
  HS256 "signature" keyed with the client's public key fails;
- `exp` at most `MAX_LIFETIME_SECONDS` ahead: the `jti` is remembered until then.
"""

import math
from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

from authserver.clients.models import is_client_id
from authserver.jose import SUPPORTED_ALGORITHMS, JwtRejected, VerificationKey, verify_jws
from authserver.jose.compact import decode_segment, json_object
from authserver.jose.keys import algorithms_for

# RFC 7523 §2.2: the `client_assertion_type` of a JWT client assertion.
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_BYTES = 8 * 1024
# An assertion may expire at most 5 minutes (plus AUTHSERVER_JWT_LEEWAY) after it arrives.
# RFC 7523 §3 lets the server bound it; ours bounds how long each `jti` is kept.
MAX_LIFETIME_SECONDS = 300
# RFC 8725 §3.1: the allow-list, asymmetric algorithms only; in discovery's order
# (RFC 8414 §2 token_endpoint_auth_signing_alg_values_supported).
ALGORITHM_NAMES = (
    *(f"{family}{bits}" for family in ("RS", "PS", "ES") for bits in (256, 384, 512)),
    "EdDSA",
)
ASSERTION_ALGORITHMS = frozenset(ALGORITHM_NAMES) & SUPPORTED_ALGORITHMS
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
# RFC 7519 §5.1 `JWT`, or draft-ietf-oauth-rfc7523bis's explicit type; `typ` may be absent.
_TYPES = frozenset({"jwt", "client-authentication+jwt"})


class ClientAssertion(NamedTuple):
    """An assertion split and decoded, its header checked; its claims are the sender's
    word until `verify_signature` accepts it."""

    alg: str
    kid: str | None
    signing_input: bytes
    signature: bytes
    claims: dict[str, Any]

    @property
    def client_id(self) -> str:
        """RFC 7523 §3 item 2.B: `sub` names the client authenticating."""
        return self.claims["sub"]


def read_assertion(value: str) -> ClientAssertion:
    """The assertion decoded (RFC 7515 §5.2 steps 1-7), or JwtRejected saying why."""
    if len(value) > MAX_ASSERTION_BYTES or value.count(".") != 2:
        raise JwtRejected("the assertion is not a compact JWS of at most 8 KiB")
    encoded_header, encoded_payload, encoded_signature = value.split(".")
    alg, kid = _check_header(json_object(decode_segment(encoded_header)))
    claims = json_object(decode_segment(encoded_payload))
    signature = decode_segment(encoded_signature)
    sub = claims.get("sub")
    if not isinstance(sub, str) or not is_client_id(sub):
        raise JwtRejected("the assertion's sub names no client")
    signing_input = f"{encoded_header}.{encoded_payload}".encode("ascii")
    return ClientAssertion(alg, kid, signing_input, signature, claims)


def check_claims(
    claims: dict[str, Any], client_id: str, audiences: Collection[str], now: int, leeway: int
) -> tuple[str, int]:
    """(`jti`, `exp`) of claims that pass RFC 7523 §3 for `client_id`, at `now`."""
    # §3 items 1 and 2.B: the client is both the issuer and the subject.
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise JwtRejected("the assertion's iss and sub are not the client_id")
    # §3 item 3: the audience names this server (FAPI 2.0 §5.3.2.1: its issuer).
    if not _audience_contains(claims.get("aud"), audiences):
        raise JwtRejected("the assertion's aud does not name this server")
    jti = claims.get("jti")
    # §3 item 7 (required here): a unique identifier, used once.
    if not isinstance(jti, str) or not jti:
        raise JwtRejected("the assertion has no jti")
    exp, iat, nbf = claims.get("exp"), claims.get("iat", 0), claims.get("nbf", 0)
    if not all(_is_number(value) for value in (exp, iat, nbf)):
        raise JwtRejected("the assertion's exp, iat and nbf must be numbers")
    # §3 item 4: expired assertions are refused.
    if now >= exp + leeway:
        raise JwtRejected("the assertion has expired")
    if exp > now + MAX_LIFETIME_SECONDS + leeway:
        raise JwtRejected("the assertion's exp is too far in the future")
    # §3 items 5 and 6: not usable before `nbf`, not issued in the future.
    if nbf > now + leeway or iat > now + leeway:
        raise JwtRejected("the assertion is not valid yet (iat or nbf)")
    return jti, int(exp)


def verify_signature(assertion: ClientAssertion, keys: Iterable[VerificationKey]) -> None:
    """RFC 7523 §3 item 9: the signature verifies with one of the client's registered keys:
    the one its `kid` names, or without a `kid` each key that can verify the `alg`."""
    for key in candidate_keys(assertion, keys):
        try:
            verify_jws(assertion.alg, assertion.signing_input, assertion.signature, key, b"")
        except JwtRejected:
            continue
        return
    raise JwtRejected("the assertion's signature does not verify with the client's keys")


def candidate_keys(
    assertion: ClientAssertion, keys: Iterable[VerificationKey]
) -> list[VerificationKey]:
    """The registered keys that could have signed it (RFC 8725 §3.1: of the `alg`'s type)."""
    return [
        key
        for key in keys
        if (assertion.kid is None or key.jwk.get("kid") == assertion.kid)
        and assertion.alg in algorithms_for(key.public_key)
        and key.alg in (None, assertion.alg)
    ]


def _check_header(header: dict[str, Any]) -> tuple[str, str | None]:
    # RFC 8725 §3.10, RFC 7515 §4.1.2-4.1.6 and §4.1.11: no key named or carried by the
    # token, and no extension we would have to understand.
    if not header.keys() <= _HEADER_MEMBERS:
        raise JwtRejected("the assertion header has members other than alg, kid and typ")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ASSERTION_ALGORITHMS:
        raise JwtRejected("the assertion's alg is not allowed")
    typ = header.get("typ", "JWT")
    # RFC 7515 §4.1.9: case-insensitive, `application/` may be left out.
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") not in _TYPES:
        raise JwtRejected("the assertion's typ is not JWT")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not kid):
        raise JwtRejected("the assertion's kid is not a string")
    return alg, kid


def _audience_contains(aud: object, audiences: Collection[str]) -> bool:
    # RFC 7519 §4.1.3: one string, or an array of strings.
    if isinstance(aud, str):
        return aud in audiences
    return (
        isinstance(aud, list)
        and all(isinstance(value, str) for value in aud)
        and any(value in audiences for value in aud)
    )


def _is_number(value: object) -> bool:
    # RFC 7519 §2 NumericDate. `true` and `false` are JSON but no numbers; NaN and
    # Infinity are no JSON (RFC 8259 §6) though Python's reader takes them.
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int) and not isinstance(value, bool)

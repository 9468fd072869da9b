"""Checking a DPoP proof (RFC 9449 §4.2, §4.3): a compact JWS signed by the key it carries,
for one request (`htm`, `htu`), recent (`iat`), once (`jti`).

Every check of §4.3 but the replay (step 12's `jti` record is the caller's: a shared store
at the server, a bounded cache at a resource service) and the token binding (the caller
compares `DPoPProof.jkt` with the token's `cnf.jkt`, §6.1). A proof is refused with
`ProofRejected` (`invalid_dpop_proof`), or `NonceNeeded` (`use_dpop_nonce`, §8) when it
is otherwise good but lacks the server's current nonce.
"""

import base64
import binascii
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from authserver.dpop.binding import access_token_hash
from authserver.dpop.uri import normalized_uri
from authserver.jose import JwtRejected, public_key_from_jwk, thumbprint, verify_jws
from authserver.jose.compact import json_object

DPOP_TYPE = "dpop+jwt"
# §4.3 step 5, §11.6: registered asymmetric signature algorithms only (never `none` or
# an HMAC), and of those the ones a client is likely to hold a key for.
DPOP_ALGORITHMS = frozenset({"ES256", "PS256", "RS256", "EdDSA"})
MAX_PROOF_BYTES = 8 * 1024
MAX_JTI_LENGTH = 256  # §11.1: refuse unnecessarily large jti values
_REQUIRED_CLAIMS = ("jti", "htm", "htu", "iat")
# RFC 7515 §4.1: members that name or carry another key, or extensions we would have to
# understand (`crit`): the proof's key is its `jwk` and nothing else.
_KEY_NAMING_MEMBERS = frozenset({"kid", "jku", "x5u", "x5c", "x5t", "x5t#S256", "crit"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class ProofRejected(ValueError):
    """RFC 9449 §5, §7.1 `invalid_dpop_proof`. The message says which check failed and is
    safe to send back: it never repeats the proof."""

    error = "invalid_dpop_proof"


class NonceNeeded(ProofRejected):
    """RFC 9449 §8, §9 `use_dpop_nonce`: the proof lacks the server's current nonce."""

    error = "use_dpop_nonce"


@dataclass(frozen=True, slots=True)
class DPoPProof:
    """A proof that passed every check: its key's RFC 7638 thumbprint and its `jti`/`iat`,
    which the caller records until `iat` + max age + leeway (§11.1)."""

    jkt: str
    jti: str
    iat: int
    nonce: str | None = None


def single_proof(values: Sequence[str]) -> str | None:
    """The request's one DPoP header value; None without one (§4.3 step 1: never two)."""
    if len(values) > 1:
        raise ProofRejected("the request has more than one DPoP header")
    return values[0] if values else None


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    now: int,
    max_age: int,
    leeway: int,
    access_token: str | None = None,
    nonce_valid: Callable[[str], bool] | None = None,
    algorithms: frozenset[str] = DPOP_ALGORITHMS,
) -> DPoPProof:
    """The proof, once every RFC 9449 §4.3 check passes for a request of `method` to `url`.

    `access_token`: the token presented with the proof to a protected resource, whose hash
    `ath` must be (§4.3 step 12, §7). `nonce_valid`: where the server demands its nonce
    (§8), the test of one; a proof without a valid one raises NonceNeeded, checked last
    so that a bad proof is always `invalid_dpop_proof`.
    """
    claims, jwk = _verified(proof, algorithms)
    _check_claims(claims, method, url)
    iat = _check_iat(claims.get("iat"), now, max_age, leeway)
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        # §4.3 step 12, §7: the proof is for this access token and no other.
        raise ProofRejected("the DPoP proof's ath is not the hash of the access token")
    nonce = claims.get("nonce")
    if nonce is not None and not isinstance(nonce, str):
        raise ProofRejected("the DPoP proof's nonce must be a string")
    # §4.3 step 10, §8: the server's nonce, when it asks for one.
    if nonce_valid is not None and (nonce is None or not nonce_valid(nonce)):
        raise NonceNeeded("the DPoP proof must carry the nonce the server provided")
    return DPoPProof(jkt=thumbprint(jwk), jti=claims["jti"], iat=iat, nonce=nonce)


def _verified(proof: object, algorithms: frozenset[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(claims, jwk) of a proof whose signature verifies with its own `jwk`."""
    # §4.3 step 2: one well-formed JWT (a compact JWS, RFC 7515 §7.1), of bounded size.
    if not isinstance(proof, str) or len(proof) > MAX_PROOF_BYTES or not proof.isascii():
        raise ProofRejected("the DPoP proof is not a JWT of at most 8 KiB")
    segments = proof.split(".")
    if len(segments) != 3:
        raise ProofRejected("the DPoP proof is not a compact JWS")
    header = _json_segment(segments[0])
    jwk = _check_header(header, algorithms)
    try:
        # §4.3 step 7: a public key (private members refused), and step 6: it signed.
        key = public_key_from_jwk(jwk)
        payload = verify_jws(
            header["alg"],
            f"{segments[0]}.{segments[1]}".encode("ascii"),
            _decode(segments[2]),
            key,
            _decode(segments[1]),
        )
        claims = json_object(payload)
    except JwtRejected as error:
        raise ProofRejected(f"the DPoP proof is invalid: {error}") from None
    return claims, jwk


def _check_header(header: dict[str, Any], algorithms: frozenset[str]) -> dict[str, Any]:
    typ = header.get("typ")
    # §4.3 step 4, §11.5: explicitly typed; RFC 7515 §4.1.9: case-insensitive media type.
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != DPOP_TYPE:
        raise ProofRejected("the DPoP proof's typ is not dpop+jwt")
    # §4.3 step 5, §11.6: an asymmetric algorithm of the allow-list, never none or HS*.
    if header.get("alg") not in algorithms:
        raise ProofRejected(f"the DPoP proof's alg must be one of {' '.join(sorted(algorithms))}")
    jwk = header.get("jwk")
    if not isinstance(jwk, dict):
        raise ProofRejected("the DPoP proof has no jwk header")
    if _KEY_NAMING_MEMBERS & header.keys():
        raise ProofRejected("the DPoP proof's header names a key other than its jwk")
    return jwk


def _check_claims(claims: dict[str, Any], method: str, url: str) -> None:
    # §4.3 step 3: every claim of §4.2.
    missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise ProofRejected(f"the DPoP proof lacks the claims {' '.join(missing)}")
    jti, htm, htu = claims["jti"], claims["htm"], claims["htu"]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise ProofRejected(f"the DPoP proof's jti must be a string of 1 to {MAX_JTI_LENGTH}")
    # §4.3 step 8: the method of this request (RFC 9110 §9.1: case-sensitive).
    if htm != method:
        raise ProofRejected("the DPoP proof's htm is not the method of this request")
    # §4.3 step 9: the URI of this request, without query and fragment, both normalized.
    expected = normalized_uri(url)
    if not isinstance(htu, str) or expected is None or normalized_uri(htu) != expected:
        raise ProofRejected("the DPoP proof's htu is not the URI of this request")


def _check_iat(iat: object, now: int, max_age: int, leeway: int) -> int:
    """§4.3 step 11, §11.1: created within the last `max_age` seconds, and at most `leeway`
    seconds ahead of this clock."""
    # Python's JSON reads NaN and Infinity too: a number here is a finite one.
    if isinstance(iat, bool) or not isinstance(iat, int | float) or not math.isfinite(iat):
        raise ProofRejected("the DPoP proof's iat must be a number")
    if iat > now + leeway:
        raise ProofRejected("the DPoP proof was created in the future (iat)")
    if iat < now - max_age:
        raise ProofRejected("the DPoP proof is too old (iat)")
    return int(iat)


def _json_segment(segment: str) -> dict[str, Any]:
    try:
        return json_object(_decode(segment))
    except JwtRejected:
        raise ProofRejected("the DPoP proof's header is not a JSON object") from None


def _decode(segment: str) -> bytes:
    """RFC 7515 §2: base64url without padding."""
    if len(segment) % 4 == 1 or not _BASE64URL.fullmatch(segment):
        raise ProofRejected("the DPoP proof is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ProofRejected("the DPoP proof is not base64url") from None

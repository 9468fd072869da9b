"""The checks on a JWT access token: RFC 9068 §4, in the strict form RFC 8725 asks for.

Before any key is looked up: a compact JWS of at most 8 KiB in canonical base64url, a
header of only `alg`, `typ` and `kid` (so `jku`, `x5u`, `jwk`, `x5c` and `crit` are refused
and never fetched, RFC 8725 §3.10), an `alg` from the verifier's allow-list (RFC 8725
§3.1: never chosen by the token alone) and `typ` `at+jwt` (RFC 9068 §4 step 1, RFC 8725
§3.11: an id_token is never an access token). After the signature: the claims.

This runs for every request of a resource service, so the usual token takes a lean
path: split and base64url-decoded once with the standard library (the canonical check
included), JSON read by the C scanner (duplicate names still refused), a header seen
before found rather than checked again, and the signature verified by `cryptography`
directly, with the public key imported once per JWKS fetch (`VerificationKey`). What
that path does not accept at once goes through the plain, strict code, which decides
and says why; both accept exactly the same tokens.
"""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm
from joserfc.jwk import RSAKey

from authserver.resource.claims import Claims
from authserver.resource.errors import InvalidToken

MAX_TOKEN_BYTES = 8 * 1024
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - a media type (RFC 9068 §2.1), no secret
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti", "client_id")
_REQUIRED_CLAIMS = frozenset(REQUIRED_CLAIMS)
# RFC 7518 §3.3, §3.5: `alg` -> the padding and hash of its RSA signature. The objects
# carry no state, so one of each serves every verification.
_SIGNATURE_SCHEMES: dict[str, tuple[AsymmetricPadding, HashAlgorithm]] = {
    **{
        f"RS{bits}": (PKCS1v15(), digest())
        for bits, digest in ((256, SHA256), (384, SHA384), (512, SHA512))
    },
    **{
        f"PS{bits}": (PSS(mgf=MGF1(digest()), salt_length=digest.digest_size), digest())
        for bits, digest in ((256, SHA256), (384, SHA384), (512, SHA512))
    },
}
# Asymmetric algorithms with RSA keys; `none` and the HMACs can never be allowed.
SUPPORTED_ALGORITHMS = frozenset(_SIGNATURE_SCHEMES)
_HEADER_MEMBERS = frozenset({"alg", "typ", "kid"})
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_BASE64URL_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# By length % 4 (1 is no length of base64): the padding the decoder wants, and the low
# bits of the last character that encode nothing. Then for the fast path, the 6-bit value
# of each base64url byte, and the translation base64url -> base64.
_PADDING = (b"", None, b"==", b"=")
_UNUSED_BITS = (0, 0, 0b1111, 0b11)
_SIX_BITS = bytes(max(_BASE64URL_ALPHABET.find(chr(byte)), 0) for byte in range(256))
_BASE64URL_BYTES = _BASE64URL_ALPHABET.encode("ascii")
_TO_BASE64 = bytes.maketrans(b"-_", b"+/")
# Encoded headers that passed `check_header`, with the allow-list: (alg, kid). At most
# 64 of at most 512 bytes each (ours are about 120).
_CHECKED_HEADERS: dict[tuple[bytes, frozenset[str]], tuple[str, str]] = {}
_MAX_CHECKED_HEADERS = 64
_MAX_CHECKED_HEADER_BYTES = 512


class CompactJws(NamedTuple):
    """A token split and decoded once (RFC 7515 §7.1), its header checked."""

    alg: str
    kid: str
    signing_input: bytes
    payload: bytes
    signature: bytes


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A published key, imported once: its JWK, its `cryptography` key and its `alg`."""

    jwk: RSAKey
    public_key: RSAPublicKey
    alg: str | None

    @classmethod
    def of(cls, jwk: RSAKey) -> Self:
        return cls(jwk, jwk.public_key, jwk.alg)


def read_token(token: object, algorithms: frozenset[str]) -> CompactJws:
    """The token decoded, with its header checked before any key or network is involved.

    The usual token takes the fast path below; anything it does not accept at once goes
    through `_read_token_strictly`, which accepts exactly the same tokens and says what
    is wrong with the others.
    """
    if isinstance(token, str) and len(token) <= MAX_TOKEN_BYTES and token.isascii():
        raw = token.encode("ascii")
        # Only base64url characters and exactly two dots (RFC 7515 §7.1).
        if raw.translate(None, _BASE64URL_BYTES) == b"..":
            encoded_header, encoded_payload, encoded_signature = raw.split(b".")
            payload = _decode_fast(encoded_payload)
            signature = _decode_fast(encoded_signature)
            header = _checked_header(encoded_header, algorithms)
            if header is not None and payload is not None and signature is not None:
                signing_input = raw[: len(encoded_header) + 1 + len(encoded_payload)]
                return CompactJws(header[0], header[1], signing_input, payload, signature)
    return _read_token_strictly(token, algorithms)


def _checked_header(encoded: bytes, algorithms: frozenset[str]) -> tuple[str, str] | None:
    """(alg, kid) of an encoded header (None: the strict path says why it is not base64url).

    Every token signed with one key has the same header, byte for byte: a header that
    passed `check_header` is remembered with the allow-list it passed, so the next one
    is found, not decoded and checked again. The set is small and cleared when full.
    """
    checked = _CHECKED_HEADERS.get((encoded, algorithms))
    if checked is None:
        decoded = _decode_fast(encoded)
        if decoded is None:
            return None
        checked = check_header(_json_object(decoded), algorithms)
        if len(encoded) <= _MAX_CHECKED_HEADER_BYTES:
            if len(_CHECKED_HEADERS) >= _MAX_CHECKED_HEADERS:
                _CHECKED_HEADERS.clear()
            _CHECKED_HEADERS[encoded, algorithms] = checked
    return checked


def _read_token_strictly(token: object, algorithms: frozenset[str]) -> CompactJws:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise InvalidToken("the token is not a compact JWS of at most 8 KiB")
    encoded_header, encoded_payload, encoded_signature = token.split(".")
    alg, kid = check_header(_json_object(_decode_segment(encoded_header)), algorithms)
    payload = _decode_segment(encoded_payload)
    signature = _decode_segment(encoded_signature)
    # Only now is every segment known to be ASCII (a token is `str`, any character).
    signing_input = f"{encoded_header}.{encoded_payload}".encode("ascii")
    return CompactJws(alg, kid, signing_input, payload, signature)


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


def verify_signature(token: CompactJws, key: VerificationKey | RSAKey) -> bytes:
    """The payload, once the signature verifies with `key` and the allowed `alg` (RFC 7515 §5.2)."""
    if not isinstance(key, VerificationKey):
        key = VerificationKey.of(key)
    # RFC 8725 §3.1: a key published for one algorithm is used with that one only.
    if key.alg is not None and key.alg != token.alg:
        raise InvalidToken("the token's alg does not match its key")
    # `token.alg` passed the allow-list, a subset of SUPPORTED_ALGORITHMS.
    padding, hash_algorithm = _SIGNATURE_SCHEMES[token.alg]
    try:
        key.public_key.verify(token.signature, token.signing_input, padding, hash_algorithm)
    except (InvalidSignature, ValueError):
        raise InvalidToken("the token's signature is invalid") from None
    return token.payload


def check_claims(payload: bytes, issuer: str, audience: str, now: int, leeway: int) -> Claims:
    """RFC 9068 §4 steps 3, 4 and 6, and the claims RFC 9068 §2.2 requires."""
    claims = _json_object(payload)
    if not claims.keys() >= _REQUIRED_CLAIMS:
        missing = [name for name in REQUIRED_CLAIMS if name not in claims]
        raise InvalidToken(f"the token lacks the claims {' '.join(missing)}")
    # RFC 9068 §4 step 3: the issuer matches exactly.
    if claims["iss"] != issuer:
        raise InvalidToken("the token was not issued by the expected issuer")
    # RFC 9068 §4 step 4: the audience names this resource.
    if not _audience_contains(claims["aud"], audience):
        raise InvalidToken("the token is not meant for this service (aud)")
    sub, jti, client_id = claims["sub"], claims["jti"], claims["client_id"]
    if not (isinstance(sub, str) and sub and isinstance(jti, str) and jti):
        raise InvalidToken("the token's sub and jti must be strings")
    if not isinstance(client_id, str) or not client_id:
        raise InvalidToken("the token's client_id must be a string")
    if not isinstance(claims.get("scope", ""), str):
        raise InvalidToken("the token's scope must be a string")
    _check_dates(claims, now, leeway)
    return Claims(claims)


def _check_dates(claims: dict[str, Any], now: int, leeway: int) -> None:
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
    # JSON numbers are int or float; bool is the int subclass `true` and `false` become.
    if type(exp) is not int or type(iat) is not int or type(nbf) is not int:
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


def _decode_segment(segment: str) -> bytes:
    """RFC 7515 §2: base64url without padding, and only the canonical encoding."""
    size = len(segment) % 4
    if _PADDING[size] is None or not _BASE64URL.fullmatch(segment):
        raise InvalidToken("the token is not base64url")
    # RFC 4648 §3.5: in the canonical encoding the bits past the last byte are zero.
    if _BASE64URL_ALPHABET.index(segment[-1]) & _UNUSED_BITS[size]:
        raise InvalidToken("the token is not canonical base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("the token is not base64url") from None


def _decode_fast(segment: bytes) -> bytes | None:
    """The bytes of a canonical segment of base64url characters; None: the strict path says why."""
    size = len(segment) & 3
    padding = _PADDING[size]
    if padding is None or not segment or _SIX_BITS[segment[-1]] & _UNUSED_BITS[size]:
        return None
    return binascii.a2b_base64(segment.translate(_TO_BASE64) + padding)


def _json_object(raw: bytes) -> dict[str, Any]:
    """RFC 7515 §5.2 step 4, RFC 7519 §7.2 step 10: a JSON object; duplicate names refused."""
    # The usual case, without `JSONDecoder.decode`'s whitespace handling around the value:
    # the C scanner reads one value (duplicate names refused by the hook), which must be
    # an object that ends the text. Anything else is decided by the full decoder below.
    try:
        text = raw.decode("utf-8")
        value, end = _SCAN_ONCE(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError, RecursionError):
        pass
    else:
        if end == len(text) and type(value) is dict:
            return value
    return _json_object_strictly(raw)


def _json_object_strictly(raw: bytes) -> dict[str, Any]:
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
_SCAN_ONCE = _JSON.scan_once

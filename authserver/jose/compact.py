"""Reading a compact JWS before any key is used (RFC 7515 §7.1, RFC 8725).

A compact JWS of at most 8 KiB in canonical base64url, a header of only `alg`, `typ` and
`kid` (so `jku`, `x5u`, `jwk`, `x5c` and `crit` are refused and never fetched, RFC 8725
§3.10), an `alg` from the caller's allow-list (RFC 8725 §3.1: never chosen by the token
alone) and the `typ` the caller expects (RFC 8725 §3.11, RFC 9068 §4 step 1: an id_token
is never an access token, nor the reverse).

This runs for every token checked, so the usual token takes a lean path: split and
base64url-decoded once with the standard library (the canonical check included), JSON
read by the C scanner (duplicate names still refused), and a header seen before found
rather than checked again. What that path does not accept at once goes through the
plain, strict code, which decides and says why; both accept exactly the same tokens.
"""

import base64
import binascii
import json
import re
from typing import Any, NamedTuple

from authserver.jose.errors import JwtRejected

MAX_TOKEN_BYTES = 8 * 1024
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
# Encoded headers that passed `check_header`, with the allow-list and `typ` they passed:
# (alg, kid). At most 64 of at most 512 bytes each (ours are about 120).
_CHECKED_HEADERS: dict[tuple[bytes, frozenset[str], str], tuple[str, str]] = {}
_MAX_CHECKED_HEADERS = 64
_MAX_CHECKED_HEADER_BYTES = 512


class CompactJws(NamedTuple):
    """A token split and decoded once (RFC 7515 §7.1), its header checked."""

    alg: str
    kid: str
    signing_input: bytes
    payload: bytes
    signature: bytes


def read_token(
    token: object, algorithms: frozenset[str], typ: str, max_bytes: int = MAX_TOKEN_BYTES
) -> CompactJws:
    """The token decoded, with its header checked before any key or network is involved.

    `typ` is the media type expected, in lower case without `application/`: `at+jwt`
    for access tokens (RFC 9068 §2.1), `jwt` for id_tokens. `max_bytes`: 8 KiB but for
    documents that are JWTs (a Status List Token).
    """
    if isinstance(token, str) and len(token) <= max_bytes and token.isascii():
        raw = token.encode("ascii")
        # Only base64url characters and exactly two dots (RFC 7515 §7.1).
        if raw.translate(None, _BASE64URL_BYTES) == b"..":
            encoded_header, encoded_payload, encoded_signature = raw.split(b".")
            payload = _decode_fast(encoded_payload)
            signature = _decode_fast(encoded_signature)
            header = _checked_header(encoded_header, algorithms, typ)
            if header is not None and payload is not None and signature is not None:
                signing_input = raw[: len(encoded_header) + 1 + len(encoded_payload)]
                return CompactJws(header[0], header[1], signing_input, payload, signature)
    return _read_token_strictly(token, algorithms, typ, max_bytes)


def check_header(header: dict[str, Any], algorithms: frozenset[str], typ: str) -> tuple[str, str]:
    """(alg, kid) of a header that passes RFC 8725 §3.1, §3.10, §3.11 and RFC 9068 §4."""
    # RFC 8725 §3.10, RFC 7515 §4.1.2-4.1.6, §4.1.11: no key named or carried by the
    # token, and no `crit` extension we would have to understand.
    if not header.keys() <= _HEADER_MEMBERS:
        raise JwtRejected("the token header has members other than alg, typ and kid")
    alg = header.get("alg")
    # RFC 8725 §3.1: the allow-list decides the algorithm, not the token.
    if not isinstance(alg, str) or alg not in algorithms:
        raise JwtRejected("the token's alg is not allowed")
    given = header.get("typ")
    # RFC 7515 §4.1.9: a media type, case-insensitive, `application/` may be left out.
    if not isinstance(given, str) or given.lower().removeprefix("application/") != typ:
        raise JwtRejected(f"the token's typ is not {typ}")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JwtRejected("the token header has no kid")
    return alg, kid


def json_object(raw: bytes) -> dict[str, Any]:
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


def _checked_header(encoded: bytes, algorithms: frozenset[str], typ: str) -> tuple[str, str] | None:
    """(alg, kid) of an encoded header (None: the strict path says why it is not base64url).

    Every token signed with one key has the same header, byte for byte: a header that
    passed `check_header` is remembered with the rules it passed, so the next one is
    found, not decoded and checked again. The set is small and cleared when full.
    """
    cache_key = (encoded, algorithms, typ)
    checked = _CHECKED_HEADERS.get(cache_key)
    if checked is None:
        decoded = _decode_fast(encoded)
        if decoded is None:
            return None
        checked = check_header(json_object(decoded), algorithms, typ)
        if len(encoded) <= _MAX_CHECKED_HEADER_BYTES:
            if len(_CHECKED_HEADERS) >= _MAX_CHECKED_HEADERS:
                _CHECKED_HEADERS.clear()
            _CHECKED_HEADERS[cache_key] = checked
    return checked


def _read_token_strictly(
    token: object, algorithms: frozenset[str], typ: str, max_bytes: int = MAX_TOKEN_BYTES
) -> CompactJws:
    if not isinstance(token, str) or len(token) > max_bytes or token.count(".") != 2:
        raise JwtRejected(f"the token is not a compact JWS of at most {max_bytes // 1024} KiB")
    encoded_header, encoded_payload, encoded_signature = token.split(".")
    alg, kid = check_header(json_object(decode_segment(encoded_header)), algorithms, typ)
    payload = decode_segment(encoded_payload)
    signature = decode_segment(encoded_signature)
    # Only now is every segment known to be ASCII (a token is `str`, any character).
    signing_input = f"{encoded_header}.{encoded_payload}".encode("ascii")
    return CompactJws(alg, kid, signing_input, payload, signature)


def decode_segment(segment: str) -> bytes:
    """RFC 7515 §2: base64url without padding, and only the canonical encoding."""
    size = len(segment) % 4
    if _PADDING[size] is None or not _BASE64URL.fullmatch(segment):
        raise JwtRejected("the token is not base64url")
    # RFC 4648 §3.5: in the canonical encoding the bits past the last byte are zero.
    if _BASE64URL_ALPHABET.index(segment[-1]) & _UNUSED_BITS[size]:
        raise JwtRejected("the token is not canonical base64url")
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JwtRejected("the token is not base64url") from None


def _decode_fast(segment: bytes) -> bytes | None:
    """The bytes of a canonical segment of base64url characters; None: the strict path says why."""
    size = len(segment) & 3
    padding = _PADDING[size]
    if padding is None or not segment or _SIX_BITS[segment[-1]] & _UNUSED_BITS[size]:
        return None
    return binascii.a2b_base64(segment.translate(_TO_BASE64) + padding)


def _json_object_strictly(raw: bytes) -> dict[str, Any]:
    try:
        value = _JSON.decode(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise JwtRejected("the token is not JSON, or repeats a member name") from None
    if not isinstance(value, dict):
        raise JwtRejected("the token is not a JSON object")
    return value


def _without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("duplicate member name")
    return result


_JSON = json.JSONDecoder(object_pairs_hook=_without_duplicates)
_SCAN_ONCE = _JSON.scan_once

"""Forging JWTs byte by byte for the verifier tests: any header, any claims, any signature."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc.jwk import RSAKey

from authserver.keys.records import KeyState
from authserver.keys.store import FileKeyStore

HEADER = {"alg": "RS256", "typ": "at+jwt"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def segment(value: dict[str, Any] | str) -> str:
    raw = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return b64url(raw.encode())


def signing_input(header: dict[str, Any] | str, claims: dict[str, Any] | str) -> str:
    return f"{segment(header)}.{segment(claims)}"


def rs256(header: dict[str, Any] | str, claims: dict[str, Any] | str, key: RSAKey) -> str:
    """RS256 over whatever header and claims are given (joserfc would refuse some headers)."""
    data = signing_input(header, claims)
    private: rsa.RSAPrivateKey = key.private_key  # type: ignore[assignment]
    return f"{data}.{b64url(private.sign(data.encode(), PKCS1v15(), SHA256()))}"


def hs256(header: dict[str, Any], claims: dict[str, Any], secret: bytes) -> str:
    """RFC 8725 §2.1: the key confusion attack, an HMAC keyed with the public key."""
    data = signing_input({**header, "alg": "HS256"}, claims)
    return f"{data}.{b64url(hmac.new(secret, data.encode(), hashlib.sha256).digest())}"


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{signing_input({**header, 'alg': 'none'}, claims)}."


def access_claims(issuer: str, audience: str, **changes: Any) -> dict[str, Any]:
    """A complete RFC 9068 §2.2 claim set, valid now, with `changes` (None removes a claim)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": "service-client",
        "aud": audience,
        "exp": now + 600,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "client_id": "service-client",
        "scope": "orders:read",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def new_rsa_key(kid: str | None = None) -> RSAKey:
    key = RSAKey.generate_key(2048, {"alg": "RS256", "use": "sig"}, private=True)
    if kid is None:
        key.ensure_kid()
    else:
        key = RSAKey.import_key(key.as_dict(private=True), {"kid": kid})
    return key


def public_jwk(key: RSAKey) -> dict[str, Any]:
    return {**key.as_dict(private=False), "alg": "RS256", "use": "sig"}


def current_signing_key(keys_dir: Path) -> RSAKey:
    """The server's current private key, from its key store, to forge tokens with."""
    store = FileKeyStore(keys_dir, None)
    current = next(r for r in store.read_records() if r.state is KeyState.CURRENT)
    return store.load_private_key(current.kid)

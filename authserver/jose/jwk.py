"""Public keys from JWKs (RFC 7517 §4, RFC 7518 §6, RFC 8037 §2) and their RFC 7638
thumbprints: one import for every key that comes from outside the key store (a resource
service's JWKS, a client's registered keys, a DPoP proof's `jwk` header).

Only the public members of RSA (2048 bits or more, RFC 7518 §3.3), EC P-256/P-384/P-521
and OKP Ed25519 keys are read; a JWK with private members is refused (RFC 9449 §4.2: a
DPoP proof must never carry one, and no registry of public keys should hold one).
"""

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ec import (
    SECP256R1,
    SECP384R1,
    SECP521R1,
    EllipticCurve,
    EllipticCurvePublicNumbers,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicNumbers

from authserver.jose.errors import JwtRejected
from authserver.jose.keys import (
    SUPPORTED_ALGORITHMS,
    PublicKey,
    VerificationKey,
    algorithms_for,
)

MIN_RSA_BITS = 2048  # RFC 7518 §3.3: a key of 2048 bits or larger MUST be used
# RFC 7638 §3.2: the required members of each key type, the only ones hashed.
THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {
    "RSA": ("e", "kty", "n"),
    "EC": ("crv", "kty", "x", "y"),
    "OKP": ("crv", "kty", "x"),
}
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_CURVES: dict[str, tuple[type[EllipticCurve], int]] = {
    "P-256": (SECP256R1, 32),
    "P-384": (SECP384R1, 48),
    "P-521": (SECP521R1, 66),
}


def public_key_from_jwk(jwk: object) -> VerificationKey:
    """The verification key a public JWK describes, pinned to its `alg` when it names
    one; JwtRejected (with the reason) for anything else."""
    if not isinstance(jwk, Mapping):
        raise JwtRejected("the key is not a JSON object")
    kty = jwk.get("kty")
    if kty not in THUMBPRINT_MEMBERS:
        raise JwtRejected("the key type is not RSA, EC or OKP")
    if PRIVATE_MEMBERS & jwk.keys():
        raise JwtRejected("the key has private members")
    if not all(isinstance(jwk.get(name), str) for name in THUMBPRINT_MEMBERS[kty]):
        raise JwtRejected(f"the key lacks a member of {kty}")
    if jwk.get("use", "sig") != "sig" or "verify" not in jwk.get("key_ops", ["verify"]):
        raise JwtRejected("the key is not for signatures")
    public_key = _public_key(kty, jwk)
    alg = jwk.get("alg")
    usable = algorithms_for(public_key) & SUPPORTED_ALGORITHMS
    if alg is not None and alg not in usable:
        raise JwtRejected("the key's alg is not supported for it")
    return VerificationKey(jwk, public_key, alg)


def thumbprint(jwk: Mapping[str, object]) -> str:
    """RFC 7638 §3: base64url SHA-256 of the required members, sorted, no whitespace
    (RFC 9449 §6.1: a DPoP key's `jkt`)."""
    members = THUMBPRINT_MEMBERS.get(str(jwk.get("kty")))
    if members is None:
        raise JwtRejected("the key type is not RSA, EC or OKP")
    canonical = json.dumps(
        {name: jwk[name] for name in members}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _public_key(kty: str, jwk: Mapping[str, object]) -> PublicKey:
    try:
        if kty == "RSA":
            n = _integer(jwk["n"])
            if n.bit_length() < MIN_RSA_BITS:
                raise JwtRejected("the RSA key is shorter than 2048 bits")
            return RSAPublicNumbers(_integer(jwk["e"]), n).public_key()
        if kty == "EC":
            found = _CURVES.get(str(jwk.get("crv")))
            if found is None:
                raise JwtRejected("the EC key's curve is not P-256, P-384 or P-521")
            curve, size = found
            x, y = _octets(jwk["x"]), _octets(jwk["y"])
            if len(x) != size or len(y) != size:
                raise JwtRejected("the EC key's coordinates have the wrong length")
            numbers = EllipticCurvePublicNumbers(
                int.from_bytes(x, "big"), int.from_bytes(y, "big"), curve()
            )
            return numbers.public_key()
        if jwk.get("crv") != "Ed25519":
            raise JwtRejected("the OKP key's curve is not Ed25519")
        return Ed25519PublicKey.from_public_bytes(_octets(jwk["x"]))
    except JwtRejected:
        raise
    except (ValueError, TypeError, KeyError):
        raise JwtRejected(f"the {kty} key is not a valid public key") from None


def _octets(value: object) -> bytes:
    if not isinstance(value, str) or not value.isascii() or "=" in value:
        raise ValueError("not base64url")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None


def _integer(value: object) -> int:
    raw = _octets(value)
    if not raw:
        raise ValueError("empty integer")
    return int.from_bytes(raw, "big")

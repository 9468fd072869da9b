"""The algorithms our keys sign with (RFC 7518 §3.3-3.5, RFC 8037 §3.1): the key each needs,
a new key for one, and the signature itself.

    RS256  RSA (AUTHSERVER_KEYS_RSA_BITS), RSASSA-PKCS1-v1_5 with SHA-256   (§3.3)
    PS256  RSA (AUTHSERVER_KEYS_RSA_BITS), RSASSA-PSS, MGF1 SHA-256, salt 32 (§3.5)
    ES256  EC P-256, ECDSA with SHA-256, signature R || S of 32 bytes each  (§3.4)
    EdDSA  OKP Ed25519 (RFC 8037 §3.1)

A private key is a joserfc key (RSAKey, ECKey, OKPKey) labelled with its `alg`, `use: sig`
and its RFC 7638 thumbprint as `kid`. One key signs with one algorithm only (RFC 8725 §3.1):
an RSA key made for RS256 never signs PS256, and the reverse.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, SECP256R1, EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from joserfc.jwk import ECKey, OKPKey, RSAKey

PrivateJwk = RSAKey | ECKey | OKPKey

DEFAULT_ALGORITHM = "RS256"  # of a key record that names none (stores before this one)
# alg -> (kty, crv) of the key it needs.
KEY_TYPES: dict[str, tuple[str, str | None]] = {
    "RS256": ("RSA", None),
    "PS256": ("RSA", None),
    "ES256": ("EC", "P-256"),
    "EdDSA": ("OKP", "Ed25519"),
}
SIGNING_ALGORITHMS = tuple(KEY_TYPES)

_SHA256 = SHA256()
_PKCS1V15 = PKCS1v15()
# RFC 7518 §3.5: MGF1 with the same hash, and a salt as long as the hash output (32 bytes).
_PSS = PSS(mgf=MGF1(SHA256()), salt_length=32)
_ECDSA = ECDSA(SHA256())
_ES256_BYTES = 32


def generate_private_key(alg: str, rsa_bits: int) -> PrivateJwk:
    """A new key for `alg`, labelled (see `labelled`)."""
    key: PrivateJwk
    kty, crv = KEY_TYPES[alg]
    if kty == "RSA":
        key = RSAKey.generate_key(rsa_bits)
    elif kty == "EC":
        key = ECKey.generate_key(crv)
    else:
        key = OKPKey.generate_key(crv)
    return labelled(key.private_key, alg)


def labelled(private_key: Any, alg: str) -> PrivateJwk:
    """The joserfc key of a `cryptography` private key, with `alg`, `use: sig` and its
    thumbprint as `kid`; ValueError if the key is not of the type `alg` needs."""
    if not fits(private_key, alg):
        raise ValueError(f"the key is not of the type {alg} needs")
    kty = KEY_TYPES[alg][0]
    key_class = {"RSA": RSAKey, "EC": ECKey, "OKP": OKPKey}[kty]
    key: PrivateJwk = key_class(private_key, private_key, {"alg": alg, "use": "sig"})
    key.ensure_kid()
    return key


def fits(private_key: Any, alg: str) -> bool:
    kty = KEY_TYPES.get(alg, ("", None))[0]
    if kty == "RSA":
        return isinstance(private_key, RSAPrivateKey)
    if kty == "EC":
        return isinstance(private_key, EllipticCurvePrivateKey) and isinstance(
            private_key.curve, SECP256R1
        )
    return kty == "OKP" and isinstance(private_key, Ed25519PrivateKey)


def natural_algorithm(private_key: Any) -> str:
    """The alg a key is read with when its record is not at hand: the only one of its
    type, or RS256 for RSA (PS256 keys are labelled again from their record)."""
    return next(alg for alg in SIGNING_ALGORITHMS if fits(private_key, alg))


def signature_function(key: PrivateJwk) -> Callable[[bytes], bytes]:
    """What signs a JWS signing input with `key` under its own `alg` (RFC 7515 §5.1)."""
    alg, private_key = key.alg, key.private_key
    if alg == "RS256":
        return lambda signing_input: private_key.sign(signing_input, _PKCS1V15, _SHA256)
    if alg == "PS256":
        return lambda signing_input: private_key.sign(signing_input, _PSS, _SHA256)
    if alg == "ES256":
        return lambda signing_input: _es256(private_key, signing_input)
    if alg == "EdDSA":
        return private_key.sign  # type: ignore[no-any-return]
    raise ValueError(f"no signing algorithm {alg!r}")


def _es256(private_key: EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    # RFC 7518 §3.4: not the DER `cryptography` returns, but R and S as 32 bytes each.
    r, s = decode_dss_signature(private_key.sign(signing_input, _ECDSA))
    return r.to_bytes(_ES256_BYTES, "big") + s.to_bytes(_ES256_BYTES, "big")


@dataclass(frozen=True, slots=True)
class Signer:
    """A key ready to sign: its `kid` and `alg` for the JWS header, and `sign`, which
    returns the JWS signature of a signing input (RFC 7515 §5.1 step 5)."""

    kid: str
    alg: str
    sign: Callable[[bytes], bytes]

    @classmethod
    def of(cls, key: PrivateJwk) -> "Signer":
        return cls(str(key.kid), str(key.alg), signature_function(key))

"""Verification keys and the JWS signature check (RFC 7515 §5.2, RFC 7518 §3.3-3.5,
RFC 8037 §3.1).

A key is imported once (`VerificationKey.of`, `jose.jwk.public_key_from_jwk`) and used
with the one algorithm it is published for (RFC 8725 §3.1): never an algorithm the token
alone chooses, and never one of another key type (an RSA key never checks an ES256
signature, a P-256 key never an ES384 one).
"""

from dataclasses import dataclass
from typing import Any, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ec import (
    ECDSA,
    SECP256R1,
    SECP384R1,
    SECP521R1,
    EllipticCurve,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm

from authserver.jose.compact import CompactJws
from authserver.jose.errors import JwtRejected

PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey

# `alg` -> the padding and hash of its RSA signature. The objects carry no state, so one
# of each serves every verification.
_RSA_SCHEMES: dict[str, tuple[AsymmetricPadding, HashAlgorithm]] = {
    **{
        f"RS{bits}": (PKCS1v15(), digest())
        for bits, digest in ((256, SHA256), (384, SHA384), (512, SHA512))
    },
    **{
        f"PS{bits}": (PSS(mgf=MGF1(digest()), salt_length=digest.digest_size), digest())
        for bits, digest in ((256, SHA256), (384, SHA384), (512, SHA512))
    },
}
# RFC 7518 §3.4: `alg` -> the curve it is defined on, its ECDSA hash, and the length in
# bytes of each of R and S in the JWS signature (R || S, not DER).
_EC_SCHEMES: dict[str, tuple[type[EllipticCurve], ECDSA, int]] = {
    "ES256": (SECP256R1, ECDSA(SHA256()), 32),
    "ES384": (SECP384R1, ECDSA(SHA384()), 48),
    "ES512": (SECP521R1, ECDSA(SHA512()), 66),
}
# RFC 8037 §3.1: EdDSA with an Ed25519 key (`crv` Ed25519 of `kty` OKP).
EDDSA = "EdDSA"
RSA_ALGORITHMS = frozenset(_RSA_SCHEMES)
EC_ALGORITHMS = frozenset(_EC_SCHEMES)
# Asymmetric algorithms only: `none` and the HMACs can never be allowed (RFC 8725 §2.1).
SUPPORTED_ALGORITHMS = RSA_ALGORITHMS | EC_ALGORITHMS | {EDDSA}


def algorithms_for(public_key: PublicKey) -> frozenset[str]:
    """The algorithms a key of this type (and curve) can verify."""
    if isinstance(public_key, RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(public_key, EllipticCurvePublicKey):
        return frozenset(
            alg for alg, (curve, _, _) in _EC_SCHEMES.items() if isinstance(public_key.curve, curve)
        )
    return frozenset({EDDSA})


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A published key, imported once: its JWK object (joserfc's, where the caller had
    one), its `cryptography` key and its `alg`."""

    jwk: Any
    public_key: PublicKey
    alg: str | None

    @classmethod
    def of(cls, jwk: Any) -> Self:
        """From a joserfc key (RSAKey, ECKey, OKPKey)."""
        return cls(jwk, jwk.public_key, jwk.alg)


def verify_signature(token: CompactJws, key: VerificationKey) -> bytes:
    """The payload, once the signature verifies with `key` and the allowed `alg` (RFC 7515 §5.2)."""
    return verify_jws(token.alg, token.signing_input, token.signature, key, token.payload)


def verify_jws(
    alg: str, signing_input: bytes, signature: bytes, key: VerificationKey, payload: bytes
) -> bytes:
    """`payload`, once `signature` over `signing_input` verifies with `key` under `alg`,
    an algorithm the caller's allow-list already accepted."""
    # RFC 8725 §3.1: a key published for one algorithm is used with that one only.
    if key.alg is not None and key.alg != alg:
        raise JwtRejected("the token's alg does not match its key")
    public_key = key.public_key
    try:
        if alg in _RSA_SCHEMES and isinstance(public_key, RSAPublicKey):
            padding, hash_algorithm = _RSA_SCHEMES[alg]
            public_key.verify(signature, signing_input, padding, hash_algorithm)
        elif alg in _EC_SCHEMES and isinstance(public_key, EllipticCurvePublicKey):
            curve, ecdsa, size = _EC_SCHEMES[alg]
            if not isinstance(public_key.curve, curve) or len(signature) != 2 * size:
                raise InvalidSignature
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            public_key.verify(encode_dss_signature(r, s), signing_input, ecdsa)
        elif alg == EDDSA and isinstance(public_key, Ed25519PublicKey):
            public_key.verify(signature, signing_input)
        else:
            raise JwtRejected("the token's alg does not match its key")
    except JwtRejected:
        raise
    except (InvalidSignature, ValueError):
        raise JwtRejected("the token's signature is invalid") from None
    return payload

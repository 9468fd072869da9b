"""Verification keys and the JWS signature check (RFC 7515 §5.2, RFC 7518 §3.3, §3.5).

A key is imported once (`VerificationKey.of`) and used with the one algorithm it is
published for (RFC 8725 §3.1): never an algorithm the token alone chooses.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS, AsymmetricPadding, PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.hashes import SHA256, SHA384, SHA512, HashAlgorithm

from authserver.jose.errors import JwtRejected

if TYPE_CHECKING:
    from joserfc.jwk import RSAKey

    from authserver.jose.compact import CompactJws

# `alg` -> the padding and hash of its RSA signature. The objects carry no state, so one
# of each serves every verification.
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


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A published key, imported once: its JWK, its `cryptography` key and its `alg`."""

    jwk: "RSAKey"
    public_key: RSAPublicKey
    alg: str | None

    @classmethod
    def of(cls, jwk: "RSAKey") -> Self:
        return cls(jwk, jwk.public_key, jwk.alg)


def verify_signature(token: "CompactJws", key: VerificationKey) -> bytes:
    """The payload, once the signature verifies with `key` and the allowed `alg` (RFC 7515 §5.2)."""
    # RFC 8725 §3.1: a key published for one algorithm is used with that one only.
    if key.alg is not None and key.alg != token.alg:
        raise JwtRejected("the token's alg does not match its key")
    # `token.alg` passed the allow-list, a subset of SUPPORTED_ALGORITHMS.
    padding, hash_algorithm = _SIGNATURE_SCHEMES[token.alg]
    try:
        key.public_key.verify(token.signature, token.signing_input, padding, hash_algorithm)
    except (InvalidSignature, ValueError):
        raise JwtRejected("the token's signature is invalid") from None
    return token.payload

"""The one JWT validator: JWS parsing and the RFC 8725 / RFC 9068 checks.

The server (userinfo, introspection, revocation, `id_token_hint`) and the resource-side
verifier (`authserver.resource`) both decide validity here, each with its own rules
(`JwtRules`: the `typ`, the issuer, the audience, the leeway) and its own key lookup
(the server's key ring, a resource service's cached JWKS). Only the standard library
and `cryptography`: a resource service imports it without the server's stack.

    validator = JwtValidator(JwtRules(issuer=..., typ="at+jwt", audience=...))
    claims = validator.validate(token, keys.get, now=int(time.time()))
"""

from authserver.jose.claims import JwtRules
from authserver.jose.compact import MAX_TOKEN_BYTES, CompactJws, read_token
from authserver.jose.errors import JwtRejected
from authserver.jose.jwk import public_key_from_jwk, thumbprint
from authserver.jose.keys import (
    SUPPORTED_ALGORITHMS,
    VerificationKey,
    verify_jws,
    verify_signature,
)
from authserver.jose.validator import JwtValidator

__all__ = [
    "MAX_TOKEN_BYTES",
    "SUPPORTED_ALGORITHMS",
    "CompactJws",
    "JwtRejected",
    "JwtRules",
    "JwtValidator",
    "VerificationKey",
    "public_key_from_jwk",
    "read_token",
    "thumbprint",
    "verify_jws",
    "verify_signature",
]

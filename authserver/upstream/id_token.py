"""Validating an upstream provider's id_token (OpenID Connect Core §3.1.3.7), with joserfc.

Not `authserver.jose`'s validator: it is made for tokens of our own, whose header is
exactly `alg`, `typ` and `kid`; a provider's header may lack `typ` or carry more. What
§3.1.3.7 asks is checked here: the signature, by a key of the provider's JWKS (never
one the token names or carries) and an RSA `alg` of the allow-list; `iss` exactly; our
client_id in `aud` (and as `azp` when present or when there are several audiences);
`exp` and `iat`; and the `nonce` of this sign-in (§3.1.2.1), which ties the token to it.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import GuestProtocol, RSAKey

from authserver.upstream.errors import UnknownKeyError, UpstreamError
from authserver.upstream.metadata import ProviderMetadata

# RFC 8725 §3.1: the allow-list decides; the keys are RSA (metadata.py).
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
MAX_ID_TOKEN_CHARS = 16 * 1024
LEEWAY_SECONDS = 60
MAX_SUBJECT_CHARS = 255  # OIDC Core §2; the upstream_links column


@dataclass(frozen=True)
class UpstreamIdentity:
    """Who the provider says signed in: `iss` + `sub` name them, the rest is a hint."""

    issuer: str
    subject: str
    preferred_username: str | None
    email: str | None
    email_verified: bool


def verify_id_token(
    id_token: object, metadata: ProviderMetadata, client_id: str, nonce: str, now: int
) -> UpstreamIdentity:
    if not isinstance(id_token, str) or len(id_token) > MAX_ID_TOKEN_CHARS:
        raise UpstreamError("the token response has no id_token, or an oversized one")
    try:
        claims = jwt.decode(id_token, _key_lookup(metadata.keys), algorithms=ALGORITHMS).claims
        _claims_registry(metadata.issuer, client_id, now).validate(claims)
    except JoseError as error:
        raise UpstreamError(
            f"the id_token was refused: {error.error}: {error.description}"
        ) from None
    _check_authorized_party(claims, client_id)
    # OIDC Core §3.1.3.7 step 11: the nonce sent in the authorization request.
    if claims.get("nonce") != nonce:
        raise UpstreamError("the id_token's nonce is not the one this sign-in sent")
    return _identity(claims)


def _key_lookup(keys: Mapping[str, RSAKey]) -> Any:
    def key_for(token: GuestProtocol) -> RSAKey:
        kid = token.headers().get("kid")
        if isinstance(kid, str) and kid in keys:
            return keys[kid]
        # RFC 7517 §4.5: without a `kid` only a set of one key says which key it is.
        if kid is None and len(keys) == 1:
            return next(iter(keys.values()))
        raise UnknownKeyError("the id_token's kid names no key of the provider's JWKS")

    return key_for


def _claims_registry(issuer: str, client_id: str, now: int) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        now=now,
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )


def _check_authorized_party(claims: dict[str, Any], client_id: str) -> None:
    # OIDC Core §3.1.3.7 steps 4-5: several audiences need `azp`, which must be us.
    several = isinstance(claims["aud"], list) and len(claims["aud"]) > 1
    if (several or "azp" in claims) and claims.get("azp") != client_id:
        raise UpstreamError("the id_token's azp is not this client")


def _identity(claims: dict[str, Any]) -> UpstreamIdentity:
    subject = claims["sub"]
    if len(subject) > MAX_SUBJECT_CHARS:
        raise UpstreamError("the id_token's sub is longer than 255 characters")
    username, email = claims.get("preferred_username"), claims.get("email")
    return UpstreamIdentity(
        issuer=claims["iss"],
        subject=subject,
        preferred_username=username if isinstance(username, str) else None,
        email=email if isinstance(email, str) else None,
        # Only the JSON `true` (OIDC Core §5.1): not "true", not 1.
        email_verified=claims.get("email_verified") is True,
    )

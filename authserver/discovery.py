"""Server metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3): only what is implemented."""

from typing import Any

from authserver.settings import Settings


def server_metadata(settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "token_endpoint": f"{issuer}/token",
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        # RFC 8414 §2 requires the member; no response type is implemented yet.
        "response_types_supported": [],
        # RFC 9068 §2.1 / RFC 8707: JWT access tokens and resource indicators.
        "access_token_signing_alg_values_supported": ["RS256"],
        "resource_indicators_supported": True,
    }

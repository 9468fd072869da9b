"""The error vocabulary: Authlib's OAuth errors we raise, plus what Authlib lacks.

AuthserverError             operator-facing (CLI, start-up); one line, exit 1
├── ConfigurationError      a bad setting
├── KeyStoreError           the key store cannot be read or written
└── SchemaError             the database is behind its migrations
OAuth2Error (Authlib)       RFC 6749 §5.2 errors on OAuth endpoints
├── InvalidTargetError      RFC 8707 §2 `invalid_target`
├── InvalidDPoPProofError   RFC 9449 §5, §7.1 `invalid_dpop_proof`
├── UseDPoPNonceError       RFC 9449 §8, §9 `use_dpop_nonce`
├── InvalidClientMetadataError, InvalidRedirectURIError  RFC 7591 §3.2.2 (Authlib's)
├── TemporarilyUnavailableError  503, the database is unreachable
├── RateLimitedError        429, a client over its /revoke or /introspect rate
└── ServerError             500, a fixed text
"""

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import (
    AccessDeniedError,
    InvalidClientError,
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
    UnauthorizedClientError,
    UnsupportedGrantTypeError,
)
from authlib.oauth2.rfc6750.errors import InsufficientScopeError, InvalidTokenError
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oidc.core.errors import (
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
    RequestNotSupportedError,
)

__all__ = [
    "AccessDeniedError",
    "AuthserverError",
    "ConfigurationError",
    "ConsentRequiredError",
    "InsufficientScopeError",
    "InteractionRequiredError",
    "InvalidClientError",
    "InvalidClientMetadataError",
    "InvalidDPoPProofError",
    "InvalidGrantError",
    "InvalidRedirectURIError",
    "InvalidRequestError",
    "InvalidScopeError",
    "InvalidTargetError",
    "InvalidTokenError",
    "KeyStoreError",
    "LoginRequiredError",
    "OAuth2Error",
    "RateLimitedError",
    "RequestNotSupportedError",
    "SchemaError",
    "ServerError",
    "TemporarilyUnavailableError",
    "UnauthorizedClientError",
    "UnsupportedGrantTypeError",
    "UseDPoPNonceError",
]


class AuthserverError(Exception):
    """A failure an operator can act on; its message is one line, safe to print."""


class ConfigurationError(AuthserverError):
    pass


class KeyStoreError(AuthserverError):
    pass


class SchemaError(AuthserverError):
    pass


class InvalidTargetError(OAuth2Error):
    """RFC 8707 §2: the requested resource is invalid, unknown or not allowed."""

    error = "invalid_target"


class InvalidDPoPProofError(OAuth2Error):
    """RFC 9449 §5 (400 at the token endpoint), §7.1 (401 at a protected resource): the
    DPoP proof is missing where one is required, or fails a check of §4.3."""

    error = "invalid_dpop_proof"


class UseDPoPNonceError(OAuth2Error):
    """RFC 9449 §8 (400), §9 (401): the proof must carry the server's nonce, which the
    response's `DPoP-Nonce` header supplies."""

    error = "use_dpop_nonce"


class TemporarilyUnavailableError(OAuth2Error):
    """RFC 6749 §4.1.2.1 `temporarily_unavailable`: storage is down; retry shortly."""

    error = "temporarily_unavailable"
    status_code = 503
    description = "The service is temporarily unavailable."


class RateLimitedError(OAuth2Error):
    """429 (RFC 6585 §4) with `Retry-After`; RFC 6749 has no code of its own for it."""

    error = "temporarily_unavailable"
    status_code = 429
    description = "Too many requests from this client; retry later."

    def __init__(self, retry_after: float) -> None:
        super().__init__()
        self.retry_after = max(1, int(retry_after + 0.999))

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


class ServerError(OAuth2Error):
    """RFC 6749 §5.2 has no 500 code; this is the fixed answer to an unexpected failure."""

    error = "server_error"
    status_code = 500
    description = "The server could not process the request."

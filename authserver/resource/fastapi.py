"""Protecting FastAPI endpoints with a `Verifier` or an `Introspector` (RFC 6750 §2.1, §3).

    verifier = Verifier("http://127.0.0.1:8000", audience="https://orders.example.test")

    @app.get("/orders")
    def orders(claims: Claims = Depends(require_scopes(verifier, "orders:read"))): ...

A request without Bearer credentials gets 401 and a bare `WWW-Authenticate: Bearer`
(RFC 6750 §3.1: no error code); a bad token 401 `invalid_token`; a good token without the
scope 403 `insufficient_scope`; a malformed header 400 `invalid_request`; and, when the
issuer's keys cannot be had at all, 503 with `Retry-After`. Each is a `BearerHTTPException`:
FastAPI's default handler answers `{"detail": ...}` with the right status and challenge;
`install_error_handler(app)` makes the body `{"error": ..., "error_description": ...}`.

The only module of `authserver.resource` that imports FastAPI.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from authserver.resource.bearer import bearer_token
from authserver.resource.claims import Claims
from authserver.resource.errors import BearerTokenError, IssuerUnavailable, bearer_challenge

RETRY_AFTER_SECONDS = 30


class TokenVerifier(Protocol):
    """A `Verifier` or an `Introspector`."""

    async def averify(self, token: str) -> Claims: ...


class BearerHTTPException(HTTPException):
    """An RFC 6750 §3 answer: status, challenge, and the error code (None: no credentials)."""

    def __init__(
        self, status_code: int, error: str | None, description: str, headers: dict[str, str]
    ) -> None:
        super().__init__(status_code, detail=description, headers=headers)
        self.error = error

    @classmethod
    def from_error(cls, error: BearerTokenError) -> "BearerHTTPException":
        headers = {"WWW-Authenticate": error.www_authenticate}
        return cls(error.status_code, error.error, error.description, headers)

    def as_dict(self) -> dict[str, str]:
        body = {"error": self.error} if self.error else {}
        return {**body, "error_description": str(self.detail)}


def require_scopes(verifier: TokenVerifier, *scopes: str) -> Callable[[Request], Awaitable[Claims]]:
    """A dependency giving the request's verified claims, which must grant every scope named."""

    async def verified_claims(request: Request) -> Claims:
        claims = await authenticate(verifier, request)
        try:
            return claims.require_scopes(*scopes)
        except BearerTokenError as error:
            raise BearerHTTPException.from_error(error) from None

    return verified_claims


def require_token(verifier: TokenVerifier) -> Callable[[Request], Awaitable[Claims]]:
    """A dependency giving the verified claims of any valid token, whatever its scope."""
    return require_scopes(verifier)


async def authenticate(verifier: TokenVerifier, request: Request) -> Claims:
    """The claims of the request's bearer token, or a BearerHTTPException to answer with."""
    try:
        token = bearer_token(request.headers.getlist("authorization"))
        if token is None:
            # RFC 6750 §3.1: no authentication at all gets a challenge without error code.
            challenge = {"WWW-Authenticate": bearer_challenge()}
            raise BearerHTTPException(401, None, "a bearer token is required", challenge)
        return await verifier.averify(token)
    except BearerTokenError as error:
        raise BearerHTTPException.from_error(error) from None
    except IssuerUnavailable:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        description = "the token cannot be verified now; try again later"
        raise BearerHTTPException(503, "temporarily_unavailable", description, headers) from None


async def bearer_error_handler(request: Request, error: Exception) -> JSONResponse:
    """Answer a BearerHTTPException with `{"error": ..., "error_description": ...}`."""
    if not isinstance(error, BearerHTTPException):
        raise error
    headers = {**(error.headers or {}), "Cache-Control": "no-store"}
    return JSONResponse(error.as_dict(), status_code=error.status_code, headers=headers)


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(BearerHTTPException, bearer_error_handler)

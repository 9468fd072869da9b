"""Protecting FastAPI endpoints with a `Verifier` or an `Introspector` (RFC 6750 §2.1, §3).

    verifier = Verifier("http://127.0.0.1:8000", audience="https://orders.example.test")

    @app.get("/orders")
    def orders(claims: Claims = Depends(require_scopes(verifier, "orders:read"))): ...

A request without Bearer credentials gets 401 and a bare `WWW-Authenticate: Bearer`
(RFC 6750 §3.1: no error code); a bad token 401 `invalid_token`; a good token without the
scope 403 `insufficient_scope`; a malformed header 400 `invalid_request`; and, when the
issuer's keys cannot be had at all, 503 with `Retry-After`.

A DPoP-bound token (RFC 9449 §7.1) comes as `Authorization: DPoP` with a `DPoP` proof for
this request's method and URL; its errors carry a `DPoP` challenge (`invalid_dpop_proof`
for a bad proof), and the token sent as a bearer token is refused (§7.2). Behind a proxy
that changes the scheme, host or path prefix, pass `base_url` (what clients call, e.g.
`https://api.example.test/orders-service`): the URL a proof names is `base_url` + the
path the app sees, not the URL the proxy forwarded. Each answer is a `BearerHTTPException`:
FastAPI's default handler answers `{"detail": ...}` with the right status and challenge;
`install_error_handler(app)` makes the body `{"error": ..., "error_description": ...}`.

The only module of `authserver.resource` that imports FastAPI.
"""

from collections.abc import Awaitable, Callable
from typing import Protocol

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse

from authserver.resource.bearer import access_token_credentials
from authserver.resource.claims import Claims
from authserver.resource.dpop import HeaderValues, PossessionCheck
from authserver.resource.errors import BearerTokenError, IssuerUnavailable, bearer_challenge

RETRY_AFTER_SECONDS = 30


class TokenVerifier(Protocol):
    """A `Verifier` or an `Introspector`."""

    dpop: PossessionCheck

    async def averify_request(
        self, authorization: HeaderValues, dpop: HeaderValues, method: str, url: str
    ) -> Claims: ...


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


def require_scopes(
    verifier: TokenVerifier, *scopes: str, base_url: str | None = None
) -> Callable[[Request], Awaitable[Claims]]:
    """A dependency giving the request's verified claims, which must grant every scope named
    (`base_url`: see the module docstring)."""

    async def verified_claims(request: Request) -> Claims:
        claims = await authenticate(verifier, request, base_url)
        try:
            return claims.require_scopes(*scopes)
        except BearerTokenError as error:
            if _dpop_scheme(request):
                error.in_dpop_scheme(verifier.dpop.algorithms)
            raise BearerHTTPException.from_error(error) from None

    return verified_claims


def require_token(
    verifier: TokenVerifier, *, base_url: str | None = None
) -> Callable[[Request], Awaitable[Claims]]:
    """A dependency giving the verified claims of any valid token, whatever its scope."""
    return require_scopes(verifier, base_url=base_url)


async def authenticate(
    verifier: TokenVerifier, request: Request, base_url: str | None = None
) -> Claims:
    """The claims of the request's access token (Bearer, or DPoP with its proof), or a
    BearerHTTPException to answer with."""
    try:
        authorization = request.headers.getlist("authorization")
        if access_token_credentials(authorization) is None:
            # RFC 6750 §3.1: no authentication at all gets a challenge without error code.
            challenge = {"WWW-Authenticate": bearer_challenge()}
            raise BearerHTTPException(401, None, "a bearer token is required", challenge)
        return await verifier.averify_request(
            authorization,
            request.headers.getlist("dpop"),
            request.method,
            request_url(request, base_url),
        )
    except BearerTokenError as error:
        raise BearerHTTPException.from_error(error) from None
    except IssuerUnavailable:
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        description = "the token cannot be verified now; try again later"
        raise BearerHTTPException(503, "temporarily_unavailable", description, headers) from None


def request_url(request: Request, base_url: str | None = None) -> str:
    """The URL the client addressed (RFC 9449 §4.3 step 9, `htu`): `base_url` + the path,
    or, without one, the URL the app was called at."""
    if base_url is None:
        return str(request.url)
    return base_url.rstrip("/") + request.url.path


def _dpop_scheme(request: Request) -> bool:
    found = access_token_credentials(request.headers.getlist("authorization"))
    return found is not None and found[0] == "dpop"


async def bearer_error_handler(request: Request, error: Exception) -> JSONResponse:
    """Answer a BearerHTTPException with `{"error": ..., "error_description": ...}`."""
    if not isinstance(error, BearerHTTPException):
        raise error
    headers = {**(error.headers or {}), "Cache-Control": "no-store"}
    return JSONResponse(error.as_dict(), status_code=error.status_code, headers=headers)


def install_error_handler(app: FastAPI) -> None:
    app.add_exception_handler(BearerHTTPException, bearer_error_handler)

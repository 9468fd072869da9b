"""Discovery (RFC 8414, OIDC Discovery) and the JWKS (RFC 7517), served from memory.

No I/O beyond a stat of the key manifest once per reload interval: they run in the event loop.
"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from authserver.http.dependencies import AppServices
from authserver.http.hot import jwks_response, metadata_response

router = APIRouter()


@router.get("/.well-known/openid-configuration")
@router.get("/.well-known/oauth-authorization-server")
async def metadata(request: Request) -> Response:
    """Declared for FastAPI (HEAD, 405); GETs are served by `http.hot`."""
    return metadata_response(request.app.state.metadata)


@router.get("/.well-known/jwks.json")
async def jwks(request: Request, services: AppServices) -> Response:
    """Declared for FastAPI (HEAD, 405); GETs are served by `http.hot`."""
    return jwks_response(services, request.headers.get("if-none-match"))

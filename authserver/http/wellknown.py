"""Discovery (RFC 8414, OIDC Discovery) and the JWKS (RFC 7517), served from memory.

No I/O beyond a stat of the key manifest once per reload interval: they run in the event loop.
"""

from fastapi import APIRouter, Request
from starlette.responses import Response

from authserver.http.dependencies import AppServices

router = APIRouter()


@router.get("/.well-known/openid-configuration")
@router.get("/.well-known/oauth-authorization-server")
async def metadata(request: Request) -> Response:
    return Response(
        request.app.state.metadata,
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/.well-known/jwks.json")
async def jwks(request: Request, services: AppServices) -> Response:
    document = services.keyring.jwks
    max_age = int(services.settings.jwks_max_age.total_seconds())
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": document.etag}
    if document.matches(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type="application/jwk-set+json", headers=headers)

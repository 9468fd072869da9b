"""The OpenAPI 3.1 description of every endpoint (GET /openapi.json), written by hand.

FastAPI's generated document would be wrong here: the routes take a bare `Request` and read
their forms strictly themselves (RFC 6749 §3.1), and the hot endpoints are answered in front
of FastAPI (`http.hot`). So every operation is described below as it is on the wire: form
bodies, client authentication, and every status it can return, with the RFC 6749 §5.2 error
codes of that endpoint, RFC 6750 §3 challenges, 429 and 503 with Retry-After, HTML pages and
redirects. Built once per app, on the first request, and kept as bytes.
"""

import json

from fastapi import APIRouter, Request
from starlette.responses import Response

from authserver import __version__
from authserver.http.openapi.operations import paths
from authserver.http.openapi.pieces import HEADERS, JSON_TYPE, SECURITY_SCHEMES
from authserver.http.openapi.schemas import component_schemas
from authserver.settings import Settings

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> Response:
    state = request.app.state
    document: bytes | None = getattr(state, "openapi_document", None)
    if document is None:
        document = state.openapi_document = openapi_document(state.services.settings)
    return Response(
        document, media_type=JSON_TYPE, headers={"Cache-Control": "public, max-age=3600"}
    )


def openapi_document(settings: Settings) -> bytes:
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "authserver",
            "version": __version__,
            "description": "OAuth 2.0 / OpenID Connect authorization server. "
            "Discovery is the source of truth for endpoint URLs.",
        },
        "servers": [{"url": settings.issuer}],
        "paths": paths(),
        "components": {
            "schemas": component_schemas(settings),
            "headers": HEADERS,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")

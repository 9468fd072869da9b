"""Token revocation (RFC 7009) and introspection (RFC 7662)."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.http.dependencies import oauth_request_from

router = APIRouter()


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    oauth_request = await oauth_request_from(request)
    server = request.app.state.services.oauth
    return await run_in_threadpool(server.endpoint_response, "revocation", oauth_request)


@router.post("/introspect")
async def introspect(request: Request) -> Response:
    oauth_request = await oauth_request_from(request)
    server = request.app.state.services.oauth
    return await run_in_threadpool(server.endpoint_response, "introspection", oauth_request)

"""Token revocation (RFC 7009) and introspection (RFC 7662)."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.http.dependencies import oauth_request_from
from authserver.oauth import FormRequest
from authserver.services import Services
from authserver.tokens.event_loop import introspect_on_loop
from authserver.tokens.lookup import looks_like_access_token

router = APIRouter()


@router.post("/revoke")
async def revoke(request: Request) -> Response:
    """Declared for FastAPI (405 for other methods); POSTs are served by `http.hot`."""
    oauth_request = await oauth_request_from(request)
    return await endpoint_response(request.app.state.services, "revocation", oauth_request)


@router.post("/introspect")
async def introspect(request: Request) -> Response:
    """Declared for FastAPI (405 for other methods); POSTs are served by `http.hot`."""
    oauth_request = await oauth_request_from(request)
    return await introspection_response(request.app.state.services, oauth_request)


async def introspection_response(services: Services, oauth_request: FormRequest) -> Response:
    """A JWT access token introspected by a client held in memory is answered on the event
    loop (`tokens.event_loop`, `authserver.loop_reads`); anything else in a thread."""
    database, server = services.ready_loop_reads(), services.oauth
    token = oauth_request.form.get("token")
    if (
        database is not None
        and token
        and looks_like_access_token(token)
        and server.holds_client_of(oauth_request)
    ):
        return await introspect_on_loop(server, oauth_request, database)
    return await endpoint_response(services, "introspection", oauth_request)


async def endpoint_response(services: Services, name: str, oauth_request: FormRequest) -> Response:
    return await run_in_threadpool(services.oauth.endpoint_response, name, oauth_request)

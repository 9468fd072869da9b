"""The token endpoint (RFC 6749 §3.2)."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.http.dependencies import oauth_request_from

router = APIRouter()

# Grants whose tokens are self-contained: once the client is cached they do no I/O, only
# an RSA signature, so they run in the event loop instead of paying for a thread hop.
_SELF_CONTAINED_GRANTS = frozenset({"client_credentials"})


@router.post("/token")
async def token(request: Request) -> Response:
    server = request.app.state.services.oauth
    oauth_request = await oauth_request_from(request)
    if oauth_request.payload.grant_type in _SELF_CONTAINED_GRANTS:
        return server.token_response(oauth_request)
    return await run_in_threadpool(server.token_response, oauth_request)

"""The token endpoint (RFC 6749 §3.2)."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.dpop.server import DPOP_HEADER
from authserver.http.dependencies import oauth_request_from
from authserver.oauth import SELF_CONTAINED_GRANTS, FormRequest
from authserver.services import Services
from authserver.tokens.event_loop import refresh_on_loop

router = APIRouter()


@router.post("/token")
async def token(request: Request) -> Response:
    """Declared for FastAPI (405 for other methods); POSTs are served by `http.hot`."""
    return await token_response(request.app.state.services, await oauth_request_from(request))


async def token_response(services: Services, oauth_request: FormRequest) -> Response:
    server = services.oauth
    # Self-contained grants do no I/O once the client is cached, only an RSA signature:
    # they run in the event loop instead of paying for a thread hop. A client not in
    # memory is read in a worker thread: the database may be slow or locked, and the
    # event loop serves every other request meanwhile.
    grant_type = oauth_request.payload.grant_type
    if DPOP_HEADER in oauth_request.headers:
        # RFC 9449 §11.1: a proof's `jti` is written down, which is I/O; and §8.2: every
        # answer to a DPoP request carries the next nonce, when nonces are required.
        response = await run_in_threadpool(server.token_response, oauth_request)
        response.headers.update(server.dpop.nonce_headers())
        return response
    if grant_type in SELF_CONTAINED_GRANTS and server.knows_client_of(oauth_request):
        return server.token_response(oauth_request)
    database = services.ready_async_db()
    if (
        grant_type == "refresh_token"
        and database is not None
        and server.holds_client_of(oauth_request)
    ):
        # PostgreSQL: the common case in one round trip on the event loop; the thread
        # path decides every other (`tokens.event_loop`).
        response = await refresh_on_loop(server, oauth_request, database)
        if response is not None:
            return response
    return await run_in_threadpool(server.token_response, oauth_request)

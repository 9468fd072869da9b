"""The pushed authorization request endpoint (RFC 9126 §2): `par.endpoint`, in one transaction."""

from fastapi import APIRouter, Request
from starlette.responses import Response

from authserver.dpop.server import DPOP_HEADER
from authserver.http.dependencies import oauth_request_from
from authserver.http.revocation import endpoint_response
from authserver.par.endpoint import PAR_PATH, PushedAuthorizationEndpoint

router = APIRouter()


@router.post(PAR_PATH)
async def pushed_authorization_request(request: Request) -> Response:
    """Only POST (RFC 9126 §2.3: 405 otherwise); the form is read strictly (RFC 6749 §3.1)."""
    oauth_request = await oauth_request_from(request)
    services = request.app.state.services
    response = await endpoint_response(
        services, PushedAuthorizationEndpoint.ENDPOINT_NAME, oauth_request
    )
    if DPOP_HEADER in oauth_request.headers:
        # RFC 9449 §8.2: every answer to a DPoP request carries the next nonce (if required).
        response.headers.update(services.oauth.dpop.nonce_headers())
    return response

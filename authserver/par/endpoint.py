"""The pushed authorization request endpoint (RFC 9126 §2): POST /par, an Authlib endpoint.

The client authenticates as at the token endpoint, with the same methods (RFC 9126 §2),
and pushes an authorization request, which is checked as /authorize would check it
before any user interaction (`grants.authorization_request`). The answer is 201 with a
request_uri and its lifetime (§2.2); a failure is an RFC 6749 §5.2 error body, never a
redirect (§2.3).
"""

from typing import Any

from authlib.oauth2.rfc6749 import Endpoint

from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.errors import InvalidRequestError, OAuth2Error
from authserver.grants.authorization_code import AuthorizationCodeGrant
from authserver.grants.authorization_request import check_authorization_request
from authserver.par.requests import push_request

PAR_PATH = "/par"
# RFC 9126 §2.1: these serve client authentication only and are not part of the request.
_CLIENT_AUTHENTICATION = frozenset({"client_secret", "client_assertion", "client_assertion_type"})


class PushedAuthorizationEndpoint(Endpoint):
    ENDPOINT_NAME = "pushed_authorization_request"

    def create_endpoint_response(self, request: Any) -> tuple[int, dict[str, Any], list]:
        settings = self.server.settings
        client = self.server.authenticate_client(
            request, AuthorizationCodeGrant.TOKEN_ENDPOINT_AUTH_METHODS, "par"
        )
        try:
            self._check(request, client)
        except OAuth2Error as error:
            # RFC 9126 §2.3: the token endpoint's error answer, so never to the redirect_uri.
            error.redirect_uri, error.state = None, None
            raise
        parameters = [
            (name, value)
            for name, values in request.payload.datalist.items()
            if name not in _CLIENT_AUTHENTICATION
            for value in values
        ]
        proof = self.server.dpop.check(request.headers, "POST", request.uri, db=request.db)
        if proof is not None:
            # RFC 9449 §10.1: a proof sent with the push binds the code to its key, as
            # `dpop_jkt` would; when both are sent they must name the same key.
            if request.payload.data.get("dpop_jkt", proof.jkt) != proof.jkt:
                raise InvalidRequestError("dpop_jkt does not name the DPoP proof's key.")
            parameters = [(n, v) for n, v in parameters if n != "dpop_jkt"]
            parameters.append(("dpop_jkt", proof.jkt))
        request_uri = push_request(
            request.db, client.client_id, parameters, utcnow(), settings.par_ttl
        )
        body = {
            "request_uri": request_uri,
            "expires_in": max(1, int(settings.par_ttl.total_seconds())),
        }
        return 201, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    def _check(self, request: Any, client: Client) -> None:
        data = request.payload.data
        # RFC 9126 §2.1: the one authorization request parameter a push must not carry.
        if "request_uri" in data:
            raise InvalidRequestError("request_uri must not be pushed.")
        # RFC 9126 §2.1: client_id is required here as in any authorization request, and
        # §2.2: the request is bound to the client that authenticated.
        if data.get("client_id") != client.client_id:
            raise InvalidRequestError("client_id must name the authenticated client.")
        check_authorization_request(self.server, request, client, None)

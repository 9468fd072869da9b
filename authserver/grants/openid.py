"""OpenID Connect on the code grant: an id_token when `openid` was granted (OIDC Core §3.1.3.3),
with the user claims the `claims` parameter asked for in it (§5.5), signed with the alg the
client registered (`id_token_signed_response_alg`, OIDC Registration §2) or the server's.

A client registered for an alg of which the key store holds no current key (one dropped
from AUTHSERVER_EXTRA_SIGNING_ALGS since) is refused before its code is used:
`invalid_client`, saying which alg is missing. Never an id_token of another alg, which
the client would reject (or worse, accept against its registration).
"""

from typing import Any

from authlib.oauth2.rfc6749.grants import BaseGrant

from authserver.errors import InvalidClientError
from authserver.grants.claims_request import ClaimsRequest
from authserver.scopes import parse_scope
from authserver.users.claims import user_claims


class OpenIDCodeExtension:
    """Registered on the code grant; adds `id_token` to a successful token response."""

    def __call__(self, grant: BaseGrant) -> None:
        grant.register_hook("after_validate_token_request", self.check_id_token_alg)
        grant.register_hook("after_create_token_response", self.add_id_token)

    @staticmethod
    def check_id_token_alg(grant: Any, _: object) -> None:
        request = grant.request
        if "openid" not in (parse_scope(request.authorization_code.get_scope()) or []):
            return
        alg = request.client.id_token_signed_response_alg
        if grant.server.id_tokens.signer(alg) is None:
            raise InvalidClientError(
                description=f"the client's id_token_signed_response_alg {alg} has no signing "
                "key here (AUTHSERVER_EXTRA_SIGNING_ALGS)"
            )

    @staticmethod
    def add_id_token(grant: Any, response: tuple[int, dict[str, Any], Any]) -> None:
        _, body, _ = response
        if "openid" not in (parse_scope(body.get("scope", "")) or []):
            return
        request = grant.request
        code = request.authorization_code
        asked = ClaimsRequest.from_stored(code.requested_claims).id_token
        body["id_token"] = grant.server.id_tokens.issue(
            client_id=request.client.client_id,
            subject=str(request.user.id),
            auth_time=code.get_auth_time(),
            sid=code.session_id,
            nonce=code.nonce,
            access_token=body["access_token"],
            user_claims=user_claims(request.user, asked),
            amr=code.get_amr(),
            acr=code.get_acr(),
            alg=request.client.id_token_signed_response_alg,
        )

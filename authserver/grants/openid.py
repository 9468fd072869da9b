"""OpenID Connect on the code grant: an id_token when `openid` was granted (OIDC Core §3.1.3.3),
with the user claims the `claims` parameter asked for in it (§5.5)."""

from typing import Any

from authlib.oauth2.rfc6749.grants import BaseGrant

from authserver.grants.claims_request import ClaimsRequest
from authserver.scopes import parse_scope
from authserver.users.claims import user_claims


class OpenIDCodeExtension:
    """Registered on the code grant; adds `id_token` to a successful token response."""

    def __call__(self, grant: BaseGrant) -> None:
        grant.register_hook("after_create_token_response", self.add_id_token)

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
        )

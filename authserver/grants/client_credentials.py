"""The client credentials grant (RFC 6749 §4.4) with RFC 8707 audiences.

Its access tokens are self-contained JWTs and are not stored.
"""

from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import grants

from authserver.grants.resource import resolve_audience
from authserver.grants.scope import resolve_scope


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_requested_scope(self) -> None:
        """Runs after client authentication and the grant-type check (Authlib's order)."""
        client = self.request.client
        self.request.scope = resolve_scope(client, self.request.payload.scope)
        resources = self.request.payload.datalist.get("resource", [])
        self.audience = resolve_audience(client, resources, self.server.settings.audience)

    def generate_token(self, *_: Any, **__: Any) -> dict[str, Any]:
        client = self.request.client
        return self.server.bearer_token(
            self.request,
            client_id=client.client_id,
            subject=client.client_id,  # RFC 9068 §2.2: no resource owner, so the client
            audience=self.audience,
            scope=self.request.scope,
        )

"""Token exchange (RFC 8693): a service that received a user's access token trades it
for one to call another service on the user's behalf.

- The caller is a confidential client with the token-exchange grant, and names the
  audiences it may ask for (`clients create --token-exchange-audience A`).
- `subject_token` is an access token of ours, active as introspection would say
  (`tokens.validity`); `actor_token`, if sent, is an active access token of ours issued
  to the caller itself: the actor must be the one asking.
- The new token's audience is what `resource`/`audience` name (§2.1), each one the
  caller may ask for (else `invalid_target`, §2.2.2); its scope is the subject token's
  or a part of it (else `invalid_scope`); it never outlives the subject token.
- It carries the subject's `sub` (and `fid`/`sid`/`auth_time`: revoking the user's
  family or session revokes it too) and an `act` claim naming the caller (§4.1), which
  nests the subject token's own `act` when that was itself exchanged.
- A subject or actor token that is not valid, of a type we do not take, or a
  `requested_token_type` we cannot issue: `invalid_request`, as §2.2.2 requires.
"""

from typing import Any, ClassVar

from authlib.oauth2.rfc6749 import BaseGrant, TokenEndpointMixin

from authserver.clients.models import TOKEN_EXCHANGE, Client
from authserver.clock import utcnow
from authserver.errors import (
    InvalidRequestError,
    InvalidScopeError,
    InvalidTargetError,
    UnauthorizedClientError,
)
from authserver.jose import JwtRejected
from authserver.scopes import parse_scope
from authserver.tokens.validity import access_token_is_active
from authserver.tokens.verification import verify_jwt

# RFC 8693 §3: token type identifiers.
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105
# Our access tokens are JWTs: either identifier names them.
ACCEPTED_TOKEN_TYPES = frozenset({ACCESS_TOKEN_TYPE, JWT_TOKEN_TYPE})
# Claims of the subject token the exchanged token keeps: whose grant it is part of.
_INHERITED = ("fid", "sid", "auth_time")


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):
    GRANT_TYPE = TOKEN_EXCHANGE
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not exchange tokens.")
        self.request.client = client
        data = self.request.payload.data
        requested = data.get("requested_token_type")
        if requested is not None and requested not in ACCEPTED_TOKEN_TYPES:
            raise InvalidRequestError("Only access tokens are issued by token exchange.")
        subject = self._verified("subject_token", "subject_token_type")
        if subject is None:
            raise InvalidRequestError("The subject_token parameter is required.")
        actor = self._verified("actor_token", "actor_token_type")
        if actor is not None and actor.get("client_id") != client.client_id:
            raise InvalidRequestError("The actor_token must be one issued to this client.")
        self.subject = subject
        self.audience = _target(client, self.request.payload.datalist)
        self.scope = _narrowed_scope(self.request.payload.scope, subject.get("scope", ""))

    def create_token_response(self) -> tuple[int, Any, Any]:
        client: Client = self.request.client
        subject = self.subject
        extra: dict[str, object] = {name: subject[name] for name in _INHERITED if name in subject}
        # RFC 8693 §4.1: the acting party; a chain of delegations nests, newest outside.
        act: dict[str, object] = {"sub": client.client_id}
        if isinstance(subject.get("act"), dict):
            act["act"] = subject["act"]
        extra["act"] = act
        user_id = int(subject["sub"]) if "fid" in subject and subject["sub"].isdigit() else None
        body = self.server.bearer_token(
            self.request,
            client_id=client.client_id,
            subject=subject["sub"],
            audience=self.audience,
            scope=self.scope,
            extra=extra,
            user_id=user_id,
            not_after=int(subject["exp"]),
        )
        # RFC 8693 §2.2.1: `issued_token_type` is required; `scope` is always sent.
        body["issued_token_type"] = ACCESS_TOKEN_TYPE
        body["scope"] = self.scope
        return 200, body, self.TOKEN_RESPONSE_HEADER

    def _verified(self, token_name: str, type_name: str) -> dict[str, Any] | None:
        """The claims of an active access token of ours sent as `token_name`, or None if
        neither it nor its type was sent (§2.1: the type comes with the token, only)."""
        data = self.request.payload.data
        token, token_type = data.get(token_name), data.get(type_name)
        if token is None and token_type is None:
            return None
        if token is None or token_type is None:
            raise InvalidRequestError(f"{token_name} and {type_name} go together.")
        if token_type not in ACCEPTED_TOKEN_TYPES:
            raise InvalidRequestError(f"The {type_name} is not one this server accepts.")
        server = self.server
        now = utcnow()
        try:
            claims = verify_jwt(
                token, server.keyring, server.settings, "access_token", int(now.timestamp())
            )
        except JwtRejected:
            raise InvalidRequestError(f"The {token_name} is not valid.") from None
        if not access_token_is_active(self.request.db, claims, now):
            raise InvalidRequestError(f"The {token_name} is not active.")
        return claims


def _target(client: Client, parameters: dict[str, list[str]]) -> str | list[str]:
    """RFC 8693 §2.1: `resource` (URIs) and `audience` (names) together name the target;
    none named is the caller's only audience, if it has exactly one."""
    named = [*parameters.get("resource", []), *parameters.get("audience", [])]
    allowed = client.token_exchange_audiences
    if not named:
        if len(allowed) != 1:
            raise InvalidTargetError("Name the audience with `resource` or `audience`.")
        return allowed[0]
    for value in named:
        if value not in allowed:
            raise InvalidTargetError("This client may not exchange tokens for that audience.")
    unique = list(dict.fromkeys(named))
    return unique[0] if len(unique) == 1 else unique


def _narrowed_scope(requested: str | None, granted: str) -> str:
    """The subject token's scope, or the part of it asked for; never more (§2.1)."""
    if requested is None:
        return granted
    tokens = parse_scope(requested)
    if tokens is None:
        raise InvalidScopeError("The scope parameter is malformed.")
    if not set(tokens) <= set(granted.split()):
        raise InvalidScopeError("The requested scope exceeds the subject token's.")
    return " ".join(tokens)

"""An authorization request's checks before any user interaction, the same at /authorize
and at /par (RFC 9126 §2.1: "validate the pushed request as it would an authorization
request sent to the authorization endpoint").

Authlib's code grant checks response_type, redirect_uri, scope and PKCE (S256 only,
`grants.pkce`); ours add OIDC Core §3.1.2.1 (`prompt`, `max_age`, `nonce`, `acr_values`),
§5.5 (`claims`), §6.1 (`request`), RFC 8707 §2 (`resource`) and RFC 9449 §10
(`dpop_jkt`). Every failure is an OAuth error; the caller decides whether it goes back
to the redirect_uri (/authorize) or into a JSON body (/par).
"""

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from authserver.clients.models import Client
from authserver.errors import InvalidRequestError, RequestNotSupportedError
from authserver.grants.claims_request import ClaimsRequest, parse_claims_request
from authserver.grants.resource import resolve_audience
from authserver.users.models import User

if TYPE_CHECKING:
    from authserver.oauth import AuthorizationServer, FormRequest

_PROMPTS = frozenset({"none", "login", "consent", "select_account"})
_SECONDS = re.compile(r"[0-9]{1,10}")
_MAX_NONCE_LENGTH = 512
_MAX_ACR_VALUES_LENGTH = 1000
# RFC 9449 §10: BASE64URL of a SHA-256 JWK thumbprint (RFC 7638), always 43 characters.
_DPOP_JKT = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class CheckedRequest:
    """What the checks found, for the rest of /authorize."""

    grant: Any  # the code grant, with its validated redirect_uri and scope
    prompts: frozenset[str]
    max_age: int | None
    claims: ClaimsRequest
    acr_values: list[str]


def check_authorization_request(
    server: "AuthorizationServer", request: "FormRequest", client: Client, user: User | None
) -> CheckedRequest:
    """Every check of the request that needs no user: `client` is the one its client_id
    names, `user` the one signed in (None at /par)."""
    # RFC 6749 §3.1: a parameter must not be repeated (not even `resource` here).
    if any(len(values) > 1 for values in request.payload.datalist.values()):
        raise InvalidRequestError("A request parameter is repeated.")
    data = request.payload.data
    if "request" in data:
        # OIDC Core §3.1.2.6 / §6.1: no request objects here (request_parameter_supported).
        raise RequestNotSupportedError("Request objects are not supported.")
    grant = server.get_consent_grant(request, end_user=user)
    prompts, max_age = _prompts(data), _max_age(data)
    _check_nonce(data)
    _check_dpop_jkt(data)
    # RFC 8707 §2: a resource the client may not ask for is refused now, not at /token.
    resolve_audience(client, request.payload.datalist.get("resource", []), server.settings.audience)
    claims = parse_claims_request(data.get("claims")).within(client.scopes)
    return CheckedRequest(grant, prompts, max_age, claims, _acr_values(data))


def _acr_values(data: dict[str, str]) -> list[str]:
    """OIDC Core §3.1.2.1 `acr_values`: space-separated, in order of preference."""
    value = data.get("acr_values") or ""
    if len(value) > _MAX_ACR_VALUES_LENGTH:
        raise InvalidRequestError("acr_values is too long.")
    return value.split()


def _check_nonce(data: dict[str, str]) -> None:
    nonce = data.get("nonce")
    if nonce is not None and len(nonce) > _MAX_NONCE_LENGTH:
        raise InvalidRequestError("The nonce is too long.")


def _check_dpop_jkt(data: dict[str, str]) -> None:
    """RFC 9449 §10: the thumbprint of the key the code's token request must prove."""
    value = data.get("dpop_jkt")
    if value is not None and not _DPOP_JKT.fullmatch(value):
        raise InvalidRequestError("dpop_jkt must be a base64url SHA-256 JWK thumbprint.")


def _prompts(data: dict[str, str]) -> frozenset[str]:
    prompts = frozenset((data.get("prompt") or "").split())
    # OIDC Core §3.1.2.1: `none` stands alone; unknown values are an error.
    if not prompts <= _PROMPTS or ("none" in prompts and len(prompts) > 1):
        raise InvalidRequestError("The prompt parameter is invalid.")
    return prompts


def _max_age(data: dict[str, str]) -> int | None:
    value = data.get("max_age")
    if value is None:
        return None
    if not _SECONDS.fullmatch(value):
        raise InvalidRequestError("max_age must be a number of seconds.")
    return int(value)

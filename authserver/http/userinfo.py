"""The UserInfo endpoint (/userinfo, OIDC Core §5.3): claims of the token's user, by scope
(§5.4) and by the `claims` parameter of the authorization (§5.5, kept with the family).

Any active access token of this issuer whose scope includes `openid` is accepted,
whatever its `aud` (CONTRACT.md). Errors are RFC 6750 §3: 401 `invalid_token` with
`WWW-Authenticate`, 403 `insufficient_scope`.
"""

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.errors import InsufficientScopeError, InvalidTokenError, OAuth2Error
from authserver.grants.claims_request import ClaimsRequest
from authserver.http.bearer import bearer_token
from authserver.jose import JwtRejected
from authserver.oauth import error_response, json_response, unexpected_error_response
from authserver.services import Services
from authserver.tokens.validity import family_of_active_token
from authserver.tokens.verification import verify_jwt
from authserver.users.claims import claims_of_scopes, user_claims
from authserver.users.models import User

router = APIRouter()


class _NoTokenError(InvalidTokenError):
    description = "An access token is required."


@router.api_route("/userinfo", methods=["GET", "POST"])
async def userinfo(request: Request) -> Response:
    """Declared for FastAPI (HEAD, 405); GET and POST are served by `http.hot`."""
    return await userinfo_response(request.app.state.services, request.headers.get("authorization"))


async def userinfo_response(services: Services, authorization: str | None) -> Response:
    try:
        token = bearer_token(authorization)
        if token is None:
            raise _NoTokenError(status_code=401)
        claims = await run_in_threadpool(_user_claims, services, token)
    except OAuth2Error as error:
        return _bearer_error(error)
    except Exception as error:  # noqa: BLE001 - a fixed 500, or 503 when storage is down
        return unexpected_error_response("userinfo", error)
    return json_response(200, claims)


def _user_claims(services: Services, token: str) -> dict[str, Any]:
    now = utcnow()
    try:
        claims = verify_jwt(
            token, services.keyring, services.settings, "access_token", int(now.timestamp())
        )
    except JwtRejected:
        raise InvalidTokenError(status_code=401) from None
    scopes = set(str(claims.get("scope", "")).split())
    # Two independent reads: no transaction (`Database.reading`).
    with services.database.reading() as db:
        user = db.get(User, int(claims["sub"])) if claims["sub"].isdigit() else None
        family = family_of_active_token(db, claims, now) if user is not None else None
        if user is None or family is None:
            raise InvalidTokenError(status_code=401)
    if "openid" not in scopes:
        raise InsufficientScopeError()
    asked = ClaimsRequest.from_stored(family.requested_claims).userinfo
    return {"sub": str(user.id), **user_claims(user, claims_of_scopes(scopes) | asked)}


def _bearer_error(error: OAuth2Error) -> Response:
    response = error_response(error)
    if isinstance(error, _NoTokenError):
        # RFC 6750 §3.1: a request without a token gets the challenge, no error code.
        response.headers["WWW-Authenticate"] = "Bearer"
    elif isinstance(error, InvalidTokenError):
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif isinstance(error, InsufficientScopeError):
        response.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="openid"'
    return response

"""The UserInfo endpoint (/userinfo, OIDC Core §5.3): claims of the token's user, by scope
(§5.4) and by the `claims` parameter of the authorization (§5.5, kept with the family).

Any active access token of this issuer whose scope includes `openid` is accepted,
whatever its `aud` (CONTRACT.md). A bearer token comes as `Authorization: Bearer`; a
DPoP-bound one (RFC 9449 §7.1) as `Authorization: DPoP` with a proof of its key for this
request, and never as a bearer token (§7.2). Errors are RFC 6750 §3: 401 `invalid_token`
with `WWW-Authenticate`, 403 `insufficient_scope`; with the DPoP scheme, its challenge
(RFC 9449 §7.1: `invalid_dpop_proof`, `use_dpop_nonce` and `algs`).
"""

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.dpop import bound_key
from authserver.dpop.server import DPOP_HEADER, ServerProofs
from authserver.errors import (
    InsufficientScopeError,
    InvalidDPoPProofError,
    InvalidTokenError,
    OAuth2Error,
    UseDPoPNonceError,
)
from authserver.grants.claims_request import ClaimsRequest
from authserver.http.bearer import BEARER, DPOP, access_token_credentials
from authserver.jose import JwtRejected
from authserver.loop_reads import LoopReads
from authserver.oauth import error_response, json_response, unexpected_error_response
from authserver.services import Services
from authserver.tokens.validity import (
    ActiveFamily,
    family_and_user_on_loop,
    family_of_active_token,
    user_id_of,
)
from authserver.tokens.verification import verify_jwt
from authserver.users.claims import ClaimSource, claims_of_scopes, user_claims
from authserver.users.models import User

router = APIRouter()
USERINFO_PATH = "/userinfo"
_DPOP_ERRORS = (InvalidTokenError, InvalidDPoPProofError, UseDPoPNonceError)


class _NoTokenError(InvalidTokenError):
    description = "An access token is required."


class _BoundBearerError(InvalidTokenError):
    description = "The access token is DPoP-bound: send it with the DPoP scheme and a proof."


@router.api_route(USERINFO_PATH, methods=["GET", "POST"])
async def userinfo(request: Request) -> Response:
    """Declared for FastAPI (HEAD, 405); GET and POST are served by `http.hot`."""
    return await userinfo_response(request.app.state.services, request.headers, request.method)


async def userinfo_response(services: Services, headers: Headers, method: str) -> Response:
    credentials = access_token_credentials(headers.get("authorization"))
    proofs = services.oauth.dpop
    try:
        if credentials is None:
            raise _NoTokenError(status_code=401)
        reads = services.ready_loop_reads()
        if reads is not None and credentials[0] == BEARER:
            claims = await _user_claims_on_loop(services, reads, credentials, headers, method)
        else:
            claims = await run_in_threadpool(_user_claims, services, credentials, headers, method)
        response = json_response(200, claims)
    except OAuth2Error as error:
        response = _token_error(error, credentials, proofs)
    except Exception as error:  # noqa: BLE001 - a fixed 500, or 503 when storage is down
        return unexpected_error_response("userinfo", error)
    if DPOP_HEADER in headers or (credentials is not None and credentials[0] == DPOP):
        # RFC 9449 §8.2, §9: the next nonce with every answer, when nonces are required.
        response.headers.update(proofs.nonce_headers())
    return response


def _user_claims(
    services: Services, credentials: tuple[str, str], headers: Headers, method: str
) -> dict[str, Any]:
    now = utcnow()
    claims = _verified(services, credentials, headers, method, now)
    # Two independent reads: no transaction (`Database.reading`).
    user_id = user_id_of(claims)
    with services.database.reading() as db:
        user = db.get(User, user_id) if user_id is not None else None
        family = family_of_active_token(db, claims, now) if user is not None else None
    if user is None or family is None:
        raise InvalidTokenError(status_code=401)
    return _answer(claims, user, family)


async def _user_claims_on_loop(
    services: Services,
    reads: LoopReads,
    credentials: tuple[str, str],
    headers: Headers,
    method: str,
) -> dict[str, Any]:
    """`_user_claims` for a bearer token on PostgreSQL, without a worker thread: the
    signature checked in memory, the token's state and its user read in one round trip
    (`authserver.async_db`). A DPoP proof's replay check takes the thread path."""
    now = utcnow()
    claims = _verified(services, credentials, headers, method, now)
    found = await family_and_user_on_loop(reads, claims, now)
    if found is None:
        raise InvalidTokenError(status_code=401)
    family, user = found
    return _answer(claims, user, family)


def _verified(
    services: Services, credentials: tuple[str, str], headers: Headers, method: str, now: datetime
) -> dict[str, Any]:
    """The claims of a token signed by a published key of ours, presented as its binding
    asks (RFC 9449 §7); else InvalidTokenError (or a DPoP error)."""
    scheme, token = credentials
    try:
        claims = verify_jwt(
            token, services.keyring, services.settings, "access_token", int(now.timestamp())
        )
        jkt = bound_key(claims)
    except JwtRejected:
        raise InvalidTokenError(status_code=401) from None
    url = services.settings.issuer + USERINFO_PATH
    _check_possession(services.oauth.dpop, scheme, token, jkt, headers, method, url)
    return claims


def _answer(claims: dict[str, Any], user: ClaimSource, family: ActiveFamily) -> dict[str, Any]:
    """OIDC Core §5.3.2: `sub` and the claims the scope (§5.4) and the authorization's
    `claims` parameter (§5.5) ask for; 403 without `openid` (RFC 6750 §3.1)."""
    scopes = set(str(claims.get("scope", "")).split())
    if "openid" not in scopes:
        raise InsufficientScopeError()
    asked = ClaimsRequest.from_stored(family.requested_claims).userinfo
    return {"sub": str(user_id_of(claims)), **user_claims(user, claims_of_scopes(scopes) | asked)}


def _check_possession(
    proofs: ServerProofs,
    scheme: str,
    token: str,
    jkt: str | None,
    headers: Headers,
    method: str,
    url: str,
) -> None:
    """RFC 9449 §7: a bound token only with the DPoP scheme and a proof of its key."""
    if scheme == BEARER:
        if jkt is not None:
            # §7.2: a DPoP-bound token received as a bearer token is refused.
            raise _BoundBearerError(status_code=401)
        return
    if jkt is None:
        raise InvalidTokenError("The access token is not DPoP-bound.", status_code=401)
    # §7.1, §4.3: a proof for this request and this token (`ath`), used once.
    proof = proofs.check(headers, method, url, access_token=token, status_code=401)
    if proof is None:
        raise InvalidDPoPProofError("A DPoP proof is required.", status_code=401)
    if proof.jkt != jkt:
        # §4.3 step 12, §6: the proof's key is the one the token is bound to.
        raise InvalidTokenError("The DPoP proof is not of the token's key.", status_code=401)


def _token_error(
    error: OAuth2Error, credentials: tuple[str, str] | None, proofs: ServerProofs
) -> Response:
    response = error_response(error)
    dpop = credentials is not None and credentials[0] == DPOP
    if isinstance(error, _NoTokenError):
        # RFC 6750 §3.1: a request without a token gets the challenge, no error code.
        response.headers["WWW-Authenticate"] = "Bearer"
    elif dpop and isinstance(error, _DPOP_ERRORS):
        response.headers["WWW-Authenticate"] = proofs.challenge(error.error, error.description)
    elif isinstance(error, _BoundBearerError):
        response.headers["WWW-Authenticate"] = (
            f'Bearer error="invalid_token", error_description="{error.description}"'
        )
        # RFC 9449 §7.2: the scheme the token needs.
        response.headers.append("WWW-Authenticate", proofs.challenge())
    elif isinstance(error, InvalidTokenError):
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    elif isinstance(error, InsufficientScopeError):
        scope = ' scope="openid"'
        response.headers["WWW-Authenticate"] = (
            f"{proofs.challenge('insufficient_scope')},{scope}"
            if dpop
            else f'Bearer error="insufficient_scope",{scope}'
        )
    return response

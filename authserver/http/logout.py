"""RP-Initiated Logout (/logout, OpenID Connect RP-Initiated Logout 1.0 §2-§3).

With a valid `id_token_hint` naming the browser's current session, the session ends at
once. Otherwise the user confirms with a POST carrying a CSRF token, so that a page on
another site cannot sign anyone out. Ending a session revokes the token families issued
under it. After logout the browser goes to `post_logout_redirect_uri` (with `state`)
only when that URI is registered for the client the hint or `client_id` names.
"""

from dataclasses import dataclass

from authlib.common.urls import add_params_to_uri
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.errors import InvalidRequestError
from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.forms import reject_nul
from authserver.http.pages import error_page, render_page
from authserver.jose import JwtRejected
from authserver.login.csrf import csrf_token, csrf_token_matches
from authserver.login.sessions import end_session
from authserver.services import Services
from authserver.tokens.verification import verify_jwt

router = APIRouter()

LOGOUT_PURPOSE = "logout"
_CARRIED = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")


@dataclass(frozen=True)
class _Hint:
    client_id: str | None
    sid: str | None


@router.api_route("/logout", methods=["GET", "POST"])
async def logout_endpoint(request: Request) -> Response:
    """One route for both methods, so that a 405 names both in `Allow` (RFC 9110 §15.5.6)."""
    if request.method == "POST":
        return await logout_confirmed(request)
    return await logout_request(request)


async def logout_request(request: Request) -> Response:
    browser = Browser.of(request)
    pairs = list(request.query_params.multi_items())
    try:
        reject_nul(pairs)
    except InvalidRequestError:
        return error_page("Sign-out failed", "The request contains a character it cannot.")
    services = request.app.state.services
    response = await run_in_threadpool(_logout, services, browser, pairs, confirmed=False)
    return browser.keep_csrf_secret(response)


async def logout_confirmed(request: Request) -> Response:
    browser = Browser.of(request)
    try:
        form = await read_page_form(request)
    except BadFormError:
        return error_page("Sign-out failed", "The form could not be read.")
    fields = dict(form)
    services = request.app.state.services
    pairs = [(name, value) for name, value in form if name in _CARRIED]
    if fields.get("decision") == "logout" and csrf_token_matches(
        browser.csrf_secret, LOGOUT_PURPOSE, fields.get("csrf_token")
    ):
        return await run_in_threadpool(_logout, services, browser, pairs, confirmed=True)
    # Without a valid CSRF token this is no confirmation: ask again (OIDC RP-Initiated §6).
    response = await run_in_threadpool(_logout, services, browser, pairs, confirmed=False)
    return browser.keep_csrf_secret(response)


def _logout(
    services: Services, browser: Browser, pairs: list[tuple[str, str]], *, confirmed: bool
) -> Response:
    params = dict(pairs)
    if len(params) != len(pairs):
        return error_page("Sign-out failed", "A parameter is repeated.")
    # An unusable hint (forged, or signed by a key since removed) is treated as no hint:
    # the user confirms, and no redirect is made on its word.
    hint = _read_hint(services, params.get("id_token_hint"))
    if params.get("id_token_hint") and hint is None:
        params.pop("post_logout_redirect_uri", None)
    client_id = params.get("client_id") or (hint.client_id if hint else None)
    if hint and params.get("client_id") and params["client_id"] != hint.client_id:
        # RP-Initiated Logout §2: client_id must then match the hint's audience.
        return error_page("Sign-out failed", "client_id does not match the id_token_hint.")
    with services.database.transaction() as db:
        now = utcnow()
        current = browser.active_session(db, now)
        hint_names_current = hint is not None and current is not None and hint.sid == current.sid
        if current is not None and not (confirmed or hint_names_current):
            carried = [(name, value) for name, value in pairs if name in params]
            return render_page(
                "logout.html",
                csrf_token=csrf_token(browser.csrf_secret, LOGOUT_PURPOSE),
                parameters=carried,
            )
        if current is not None:
            end_session(db, current, now, "logout")
    response = _after_logout(services, client_id, params)
    return browser.clear_session(response)


def _read_hint(services: Services, token: str | None) -> _Hint | None:
    """The hint's client and session, if it is an id_token we issued (expired is fine)."""
    if not token:
        return None
    try:
        claims = verify_jwt(
            token,
            services.keyring,
            services.settings,
            "id_token",
            int(utcnow().timestamp()),
            allow_expired=True,  # OIDC RP-Initiated Logout §2: an expired hint still names
        )
    except JwtRejected:
        return None
    aud = claims.get("aud")
    client_id = aud if isinstance(aud, str) else None
    sid = claims.get("sid")
    return _Hint(client_id, sid if isinstance(sid, str) else None)


def _after_logout(services: Services, client_id: str | None, params: dict[str, str]) -> Response:
    target = params.get("post_logout_redirect_uri")
    client: Client | None = services.oauth.query_client(client_id) if client_id else None
    # OIDC RP-Initiated Logout §3: only an exact, registered URI of that client.
    if target and client is not None and target in client.post_logout_redirect_uris:
        if state := params.get("state"):
            target = add_params_to_uri(target, [("state", state)])
        return RedirectResponse(target, 303, headers={"Cache-Control": "no-store"})
    return render_page("signed_out.html")

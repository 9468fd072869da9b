"""Sign-in with an upstream OpenID provider: the login page's "Continue with ..." buttons.

POST /login/upstream/{name}/start (the button's form, with the login page's CSRF token)
stores the sign-in and sends the browser to the provider (`upstream/signin.py`); the
provider sends it back to GET /login/upstream/callback, which links the identity to a
local user (`upstream/linking.py`) and signs them in with `amr` "fed" (RFC 8176). A
user with a second factor proves it next (/login/second-factor), as after a password.
Whatever goes wrong is a page, never JSON.
"""

import logging

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.login import LOGIN_PURPOSE, safe_next, second_factor_url
from authserver.http.pages import error_page, see_other
from authserver.login.csrf import csrf_token_matches
from authserver.opaque import opaque_hash
from authserver.services import Services
from authserver.upstream.errors import UpstreamError
from authserver.upstream.signin import (
    CALLBACK_PATH,
    CallbackAnswer,
    UpstreamSignIn,
    Verified,
    sign_in_linked,
)

router = APIRouter()
log = logging.getLogger(__name__)

TITLE = "Sign-in failed"
_ANSWER_PARAMETERS = ("state", "code", "error", "iss")


@router.post("/login/upstream/{name}/start")
async def begin(request: Request, name: str) -> Response:
    browser = Browser.of(request)
    try:
        form = dict(await read_page_form(request))
    except BadFormError:
        return error_page(TITLE, "The form could not be read. Please try again.")
    if not csrf_token_matches(browser.csrf_secret, LOGIN_PURPOSE, form.get("csrf_token")):
        return error_page(TITLE, "This form expired. Please go back and sign in again.")
    binding = opaque_hash(browser.csrf_secret)
    next_path = safe_next(form.get("next"))
    try:
        location = await run_in_threadpool(
            upstream_sign_in(request).begin, name, binding, next_path
        )
    except UpstreamError as error:
        return _failed(error)
    return see_other(location)


@router.get(CALLBACK_PATH)
def callback(request: Request) -> Response:
    browser = Browser.of(request)
    services: Services = request.app.state.services
    try:
        answer = CallbackAnswer(*(_single(request, name) for name in _ANSWER_PARAMETERS))
        verified = upstream_sign_in(request).finish(answer, opaque_hash(browser.csrf_secret))
        return _signed_in(services, browser, verified)
    except UpstreamError as error:
        return _failed(error)


def upstream_sign_in(request: Request) -> UpstreamSignIn:
    """The app's one `UpstreamSignIn` (it caches each provider's metadata)."""
    state = request.app.state
    if getattr(state, "upstream_sign_in", None) is None:
        services: Services = state.services
        state.upstream_sign_in = UpstreamSignIn(
            services.settings, services.database, services.sealer
        )
    return state.upstream_sign_in


def _signed_in(services: Services, browser: Browser, verified: Verified) -> Response:
    settings = services.settings
    next_path = safe_next(verified.next_path)
    with services.database.transaction() as db:
        now = utcnow()
        previous = browser.active_session(db, now)
        result = sign_in_linked(
            db, settings, verified, previous, now, browser.user_agent, browser.address
        )
    if result.pending is not None:
        response = see_other(second_factor_url(settings.issuer, next_path))
        return browser.set_pending(response, result.pending)
    if result.started is None:
        raise UpstreamError("the sign-in started no session")
    response = see_other(settings.issuer + (next_path or "/login"))
    return browser.clear_pending(browser.set_session(response, result.started.cookie_value))


def _single(request: Request, name: str) -> str | None:
    """The one value of a parameter; RFC 6749 §3.1: one sent twice is not an answer."""
    values = request.query_params.getlist(name)
    if len(values) > 1:
        public = "The answer could not be read. Please sign in again."
        raise UpstreamError(f"the answer repeats {name}", public, 400)
    return values[0] if values else None


def _failed(error: UpstreamError) -> Response:
    log.warning("upstream sign-in failed: %s", error)
    return error_page(TITLE, error.public, error.status)

"""The device flow's two endpoints (RFC 8628): `POST /device_authorization`, where a
device asks, and the `/device` page, where its user approves (docs/device-flow.md).

The page needs a signed-in user (it sends the browser to /login and back); each of its
forms carries a CSRF token bound to the session (and, for the decision, to the code).
"""

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.device_flow.approval import Found, NotFound, Throttled, decide, look_up
from authserver.device_flow.codes import formatted
from authserver.device_flow.endpoint import VERIFICATION_PATH
from authserver.factors.policy import is_multi_factor, mfa_needed
from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.dependencies import oauth_request_from
from authserver.http.login import returning_to, second_factor_url
from authserver.http.pages import error_page, render_page, see_other
from authserver.http.revocation import endpoint_response
from authserver.login.csrf import csrf_token, csrf_token_matches
from authserver.login.models import LoginSession
from authserver.scopes import SCOPE_DESCRIPTIONS
from authserver.services import Services
from authserver.users.models import User

router = APIRouter()

_NOT_VALID = "That code is not valid, or it has expired. Check the code on your device."
_EXPIRED_FORM = "This form expired. Please enter the code again."


@router.post("/device_authorization")
async def device_authorization(request: Request) -> Response:
    oauth_request = await oauth_request_from(request)
    return await endpoint_response(
        request.app.state.services, "device_authorization", oauth_request
    )


@router.api_route(VERIFICATION_PATH, methods=["GET", "POST"])
async def device_page(request: Request) -> Response:
    """One route for both methods, so that a 405 names both in `Allow` (RFC 9110 §15.5.6)."""
    browser = Browser.of(request)
    services: Services = request.app.state.services
    if request.method == "GET":
        entry = request.query_params.get("user_code", "")
        form: dict[str, str] = {"user_code": entry} if entry else {}
    else:
        try:
            form = dict(await read_page_form(request))
        except BadFormError:
            return error_page("Device sign-in failed", "The form could not be read.")
    response = await run_in_threadpool(_answer, services, browser, request.method == "POST", form)
    return browser.keep_csrf_secret(response)


def _answer(services: Services, browser: Browser, posted: bool, form: dict[str, str]) -> Response:
    with services.database.transaction() as db:
        now = utcnow()
        login_session = browser.active_session(db, now)
        user = db.get(User, login_session.user_id) if login_session else None
        if login_session is None or user is None or user.disabled:
            return _sign_in_first(services, form.get("user_code", ""))
        entry = form.get("user_code", "")
        if posted and not csrf_token_matches(
            browser.csrf_secret, _purpose(login_session), form.get("csrf_token")
        ):
            return _code_form(browser, login_session, user, entry, _EXPIRED_FORM, 400)
        if not entry:
            return _code_form(browser, login_session, user)
        found = look_up(db, entry, user.id, browser.address, now)
        if isinstance(found, Throttled):
            seconds = max(1, int(found.retry_after.total_seconds()) + 1)
            message = f"Too many attempts. Please wait {seconds} seconds and try again."
            page = _code_form(browser, login_session, user, entry, message, 429)
            page.headers["Retry-After"] = str(seconds)
            return page
        if isinstance(found, NotFound):
            return _code_form(browser, login_session, user, entry, _NOT_VALID)
        # factors/policy.py: the approval is an authorization like /authorize's.
        mfa = mfa_needed(services.settings.mfa, found.client.require_mfa, ())
        if mfa and not is_multi_factor(login_session.amr):
            back = f"{VERIFICATION_PATH}?{urlencode({'user_code': entry[:32]})}"
            return see_other(second_factor_url(services.settings.issuer, back))
        answer = form.get("decision") if posted else None
        if answer is None:
            return _confirm_page(browser, login_session, user, found)
        if not csrf_token_matches(
            browser.csrf_secret,
            _decision_purpose(login_session, found),
            form.get("decision_token"),
        ):
            return _confirm_page(browser, login_session, user, found, _EXPIRED_FORM, 400)
        approve = answer == "approve"
        if not decide(db, found, approve, login_session, now):
            return _code_form(browser, login_session, user, entry, _NOT_VALID)
        return render_page("device_done.html", approved=approve, client_name=found.client.name)


def _sign_in_first(services: Services, entry: str) -> Response:
    back = VERIFICATION_PATH + (f"?{urlencode({'user_code': entry[:32]})}" if entry else "")
    return see_other(services.settings.issuer + returning_to("/login", back))


def _code_form(
    browser: Browser,
    login_session: LoginSession,
    user: User,
    entry: str = "",
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render_page(
        "device.html",
        status,
        username=user.username,
        user_code=entry[:32],
        error=error,
        csrf_token=csrf_token(browser.csrf_secret, _purpose(login_session)),
    )


def _confirm_page(
    browser: Browser,
    login_session: LoginSession,
    user: User,
    found: Found,
    error: str | None = None,
    status: int = 200,
) -> Response:
    client = found.client
    scopes = found.authorization.scope.split()
    return render_page(
        "device_confirm.html",
        status,
        client_name=client.name,
        username=user.username,
        user_code=formatted(found.authorization.user_code),
        scopes=[{"name": s, "description": SCOPE_DESCRIPTIONS.get(s)} for s in scopes],
        error=error,
        csrf_token=csrf_token(browser.csrf_secret, _purpose(login_session)),
        decision_token=csrf_token(browser.csrf_secret, _decision_purpose(login_session, found)),
    )


def _purpose(login_session: LoginSession) -> str:
    return f"device:{login_session.sid}"


def _decision_purpose(login_session: LoginSession, found: Found) -> str:
    """A decision fits only the session and the code it was shown for."""
    return f"device-decision:{login_session.sid}:{found.authorization.user_code}"

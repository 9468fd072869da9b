"""The login page (/login): a username and password form that starts an SSO session.

Coming from /authorize, the page names the application, and the request's `login_hint`
(OIDC Core §3.1.2.1) is the username input's initial value: escaped, dropped when it
could not be a username, and used for nothing else.
"""

import asyncio
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.pages import error_page, render_page, see_other
from authserver.login.csrf import csrf_token, csrf_token_matches
from authserver.login.models import LoginSession
from authserver.login.signin import SignInResult
from authserver.passkeys.relying_party import passkeys_possible
from authserver.services import Services
from authserver.upstream.providers import ProviderButton, provider_buttons
from authserver.users.models import User

router = APIRouter()

LOGIN_PURPOSE = "login"
SIGNED_IN_PURPOSE = "logout"
FAILED = "Incorrect username or password."
_MAX_NEXT_LENGTH = 4000
_MAX_USERNAME_LENGTH = 150  # the login form's `maxlength`, and the users table's
HASH_SLOT_TIMEOUT_SECONDS = 5.0


@router.api_route("/login", methods=["GET", "POST"])
async def login_endpoint(request: Request) -> Response:
    """One route for both methods, so that a 405 names both in `Allow` (RFC 9110 §15.5.6)."""
    if request.method == "POST":
        return await login(request)
    return await login_page(request)


async def login_page(request: Request) -> Response:
    browser = Browser.of(request)
    next_path = safe_next(request.query_params.get("next"))
    if next_path is None:
        signed_in = await run_in_threadpool(_signed_in_user, request.app.state.services, browser)
        if signed_in is not None:
            page = render_page(
                "signed_in.html",
                username=signed_in.username,
                csrf_token=csrf_token(browser.csrf_secret, SIGNED_IN_PURPOSE),
            )
            return browser.keep_csrf_secret(page)
    services = request.app.state.services
    client_name, upstreams = await run_in_threadpool(_page_context, services, next_path)
    page = _form(
        browser, next_path, _login_hint(next_path), client_name=client_name, upstreams=upstreams
    )
    return browser.keep_csrf_secret(page)


async def login(request: Request) -> Response:
    services: Services = request.app.state.services
    browser = Browser.of(request)
    try:
        form = dict(await read_page_form(request))
    except BadFormError:
        return error_page("Sign-in failed", "The form could not be read. Please try again.")
    next_path = safe_next(form.get("next"))
    if not csrf_token_matches(browser.csrf_secret, LOGIN_PURPOSE, form.get("csrf_token")):
        page = _form(browser, next_path, error="This form expired. Please sign in again.")
        page.status_code = 400
        return browser.keep_csrf_secret(page)
    username, password = form.get("username", ""), form.get("password", "")
    if not username or not password:
        return _form(browser, next_path, username, "Enter your username and password.")
    previous = await run_in_threadpool(_active_session, services, browser)
    result = await _signed_in(request, services, username, password, browser, previous)
    if result.retry_after is not None:
        seconds = max(1, int(result.retry_after.total_seconds()) + 1)
        message = f"Too many attempts. Please wait {seconds} seconds and try again."
        page = _form(browser, next_path, username, message)
        page.status_code = 429
        page.headers["Retry-After"] = str(seconds)
        return page
    if result.busy:
        page = _form(browser, next_path, username, "The server is busy. Please try again.")
        page.status_code = 503
        page.headers["Retry-After"] = "1"
        return page
    if result.pending is not None:
        response = see_other(second_factor_url(services.settings.issuer, next_path))
        if result.device_secret is not None:
            browser.set_device(response, result.device_secret)
        return browser.set_pending(response, result.pending)
    if result.started is None:
        upstreams = await run_in_threadpool(_upstreams, services)
        return _form(browser, next_path, username, FAILED, upstreams=upstreams)
    response = see_other(services.settings.issuer + (next_path or "/login"))
    if result.device_secret is not None:
        browser.set_device(response, result.device_secret)
    return browser.clear_pending(browser.set_session(response, result.started.cookie_value))


def second_factor_url(issuer: str, next_path: str | None) -> str:
    """The second step of a sign-in (http/second_factor.py), returning to `next_path`."""
    return issuer + returning_to("/login/second-factor", next_path)


def returning_to(path: str, next_path: str | None) -> str:
    """`path` with a `next` parameter naming where to go afterwards, if anywhere."""
    return path + ("?" + urlencode({"next": next_path}) if next_path else "")


async def _signed_in(
    request: Request,
    services: Services,
    username: str,
    password: str,
    browser: Browser,
    previous: LoginSession | None,
) -> SignInResult:
    """Sign-ins wait for a hashing slot here, in the event loop, not in a worker thread:
    a flood of them must not hold the threads every other endpoint needs (there are
    only AUTHSERVER_DATABASE_POOL_SIZE). One turned away unheard is `busy`."""
    slots: asyncio.Semaphore | None = getattr(request.app.state, "hash_slots", None)
    if slots is None:
        slots = asyncio.Semaphore(services.settings.login_max_concurrent_hashes)
        request.app.state.hash_slots = slots
    try:
        await asyncio.wait_for(slots.acquire(), timeout=HASH_SLOT_TIMEOUT_SECONDS)
    except TimeoutError:
        return SignInResult(busy=True)
    try:
        return await run_in_threadpool(
            services.sign_in,
            username,
            password,
            browser.address,
            previous,
            browser.device_secret,
            browser.user_agent,
        )
    finally:
        slots.release()


def safe_next(value: str | None) -> str | None:
    """A same-origin path to return to after sign-in, or None (no open redirect)."""
    if not value or len(value) > _MAX_NEXT_LENGTH or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or any(ord(c) < 0x21 or ord(c) == 0x7F for c in value):
        return None
    return value


def _form(
    browser: Browser,
    next_path: str | None,
    username: str = "",
    error: str | None = None,
    client_name: str | None = None,
    upstreams: list[ProviderButton] | None = None,
) -> Response:
    return render_page(
        "login.html",
        csrf_token=csrf_token(browser.csrf_secret, LOGIN_PURPOSE),
        next=next_path,
        username=username,
        error=error,
        client_name=client_name,
        upstreams=upstreams or [],
        passkeys_offered=passkeys_possible(browser.settings.issuer),
    )


def _page_context(
    services: Services, next_path: str | None
) -> tuple[str | None, list[ProviderButton]]:
    """The application the user signs in for, when coming from /authorize, and the
    upstream providers offered beside the password form."""
    client_id = _authorization_parameter(next_path, "client_id")
    client = services.oauth.query_client(client_id) if client_id is not None else None
    return (client.name if client else None), _upstreams(services)


def _upstreams(services: Services) -> list[ProviderButton]:
    with services.database.reading() as db:
        return provider_buttons(db)


def _login_hint(next_path: str | None) -> str:
    """The authorization request's `login_hint`, if it could be a username; else ""."""
    hint = _authorization_parameter(next_path, "login_hint")
    if hint is None or len(hint) > _MAX_USERNAME_LENGTH or not hint.isprintable():
        return ""
    return hint


def _authorization_parameter(next_path: str | None, name: str) -> str | None:
    """The one value of `name` in the /authorize request the sign-in returns to, if any."""
    if not next_path or not next_path.startswith("/authorize?"):
        return None
    values = parse_qs(urlsplit(next_path).query).get(name, [])
    return values[0] if len(values) == 1 else None


def _active_session(services: Services, browser: Browser) -> LoginSession | None:
    with services.database.transaction() as db:
        return browser.active_session(db, utcnow())


def _signed_in_user(services: Services, browser: Browser) -> User | None:
    with services.database.transaction() as db:
        login_session = browser.active_session(db, utcnow())
        return db.get(User, login_session.user_id) if login_session else None

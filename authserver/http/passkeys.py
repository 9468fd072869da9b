"""The passkey ceremonies' JSON endpoints, called by passkeys.js, and the account page's
"remove" form (docs/login-and-sso.md, "Passkeys").

- `POST /passkeys/registration/options`, `POST /passkeys/registration`: a signed-in user
  registers a passkey; the challenge is bound to the session.
- `POST /passkeys/authentication/options`, `POST /passkeys/authentication`, with
  `purpose` `sign-in` (username-less, the challenge bound to the browser's CSRF secret)
  or `second-factor` (the challenge bound to the sign-in being completed).
- `POST /account/passkeys/remove`: a form, answered with 303 to /account.

They change state, so each needs a CSRF token bound to its page (login/csrf.py), in the
`X-CSRF-Token` header: a custom header also makes a cross-site request need a CORS
preflight, which none of these answers. Bodies are JSON objects; a refusal is 400 with
`error` and `error_description`, never a 500.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.errors import InvalidRequestError, LoginRequiredError, OAuth2Error
from authserver.http.account import (
    SIGN_IN_AGAIN,
    Account,
    AccountForm,
    account_csrf_purpose,
    account_form,
    signed_in_account,
    signed_in_recently,
)
from authserver.http.browser import Browser
from authserver.http.login import LOGIN_PURPOSE, safe_next
from authserver.http.pages import see_other
from authserver.http.second_factor import Signing, complete_second_factor, signing_in
from authserver.login.csrf import csrf_token_matches
from authserver.login.sessions import SignedIn, StartedSession, establish_session
from authserver.oauth import error_response, json_response
from authserver.opaque import opaque_hash
from authserver.passkeys.authentication import authentication_options, verify_assertion
from authserver.passkeys.challenges import SECOND_FACTOR, SIGN_IN
from authserver.passkeys.registration import (
    register_passkey,
    registration_options,
    remove_passkey,
)
from authserver.passkeys.relying_party import RelyingParty, relying_party_of
from authserver.services import Services
from authserver.strict_json import StrictJsonError, strict_json_object

router = APIRouter()

CSRF_HEADER = "X-CSRF-Token"
MAX_BODY_BYTES = 64 * 1024
_JSON = "application/json"
_EXPIRED = "The page expired. Please reload it and try again."

Body = dict[str, Any]
T = TypeVar("T")


@router.post("/passkeys/registration/options")
async def registration_options_endpoint(request: Request) -> Response:
    return await _answer(request, _registration_options)


@router.post("/passkeys/registration")
async def registration_endpoint(request: Request) -> Response:
    return await _answer(request, _registration)


@router.post("/passkeys/authentication/options")
async def authentication_options_endpoint(request: Request) -> Response:
    return await _answer(request, _authentication_options)


@router.post("/passkeys/authentication")
async def authentication_endpoint(request: Request) -> Response:
    return await _answer(request, _authentication)


@router.post("/account/passkeys/remove")
async def remove_endpoint(request: Request) -> Response:
    return await account_form(request, _remove)


Ceremony = Callable[[Services, Browser, str | None, Body], Response]


async def _answer(request: Request, ceremony: Ceremony) -> Response:
    """Read the JSON body, run `ceremony` in a worker thread, and answer a refusal
    (an `OAuth2Error`) as its JSON."""
    services: Services = request.app.state.services
    browser = Browser.of(request)
    try:
        body = await _json_body(request)
        token = request.headers.get(CSRF_HEADER)
        return await run_in_threadpool(ceremony, services, browser, token, body)
    except OAuth2Error as error:
        return error_response(error)


async def _json_body(request: Request) -> Body:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _JSON:
        raise InvalidRequestError("The body must be a JSON object (application/json).")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequestError("The request body is too large.")
    try:
        return strict_json_object(body.decode("utf-8"))
    except (UnicodeDecodeError, StrictJsonError):
        raise InvalidRequestError("The body must be a JSON object (application/json).") from None


# --- registration ----------------------------------------------------------------------


def _registration_options(
    services: Services, browser: Browser, token: str | None, body: Body
) -> Response:
    def work(db: Session, now: datetime) -> Body:
        account = _account(db, browser, token, now)
        rp = _relying_party(services)
        return registration_options(db, rp, account.user, account.session.sid, now)

    return json_response(200, _in_transaction(services, work))


def _registration(services: Services, browser: Browser, token: str | None, body: Body) -> Response:
    name, credential = body.get("name", ""), body.get("credential")
    if not isinstance(name, str):
        raise InvalidRequestError("The passkey name must be a string.")

    def work(db: Session, now: datetime) -> Body:
        account = _account(db, browser, token, now)
        rp, sid = _relying_party(services), account.session.sid
        passkey = register_passkey(db, rp, account.user, sid, credential, name, now)
        return {"name": passkey.name}

    return json_response(200, _in_transaction(services, work))


def _account(db: Session, browser: Browser, token: str | None, now: datetime) -> Account:
    account = signed_in_account(db, browser, now)
    if account is None:
        raise LoginRequiredError("Sign in to register a passkey.")
    if not signed_in_recently(account.session, now):
        raise LoginRequiredError(SIGN_IN_AGAIN)
    if not csrf_token_matches(browser.csrf_secret, account_csrf_purpose(account.session), token):
        raise InvalidRequestError(_EXPIRED)
    return account


# --- authentication --------------------------------------------------------------------


def _authentication_options(
    services: Services, browser: Browser, token: str | None, body: Body
) -> Response:
    purpose = _purpose(body)
    if purpose == SIGN_IN:
        _check_login_token(browser, token)
        binding, user_id = _browser_binding(browser), None
    else:
        signing = _signing(services, browser, token)
        if not signing.factors.passkeys:
            raise InvalidRequestError("No passkey is registered for this account.")
        binding, user_id = signing.binding, signing.user.id
    rp = _relying_party(services)
    options = _in_transaction(
        services, lambda db, now: authentication_options(db, rp, purpose, binding, now, user_id)
    )
    return json_response(200, options)


def _authentication(
    services: Services, browser: Browser, token: str | None, body: Body
) -> Response:
    """200 with `location`, where the browser goes next, and the session cookie."""
    next_value, credential = body.get("next"), body.get("credential")
    next_path = safe_next(next_value) if isinstance(next_value, str) else None
    if _purpose(body) == SIGN_IN:
        return _as_json(_sign_in(services, browser, token, credential, next_path))
    return _as_json(_second_factor(services, browser, token, credential, next_path))


def _sign_in(
    services: Services,
    browser: Browser,
    token: str | None,
    credential: object,
    next_path: str | None,
) -> Response:
    _check_login_token(browser, token)
    rp, binding = _relying_party(services), _browser_binding(browser)

    def work(db: Session, now: datetime) -> StartedSession:
        proved = verify_assertion(db, rp, SIGN_IN, binding, credential, now)
        user = proved.user
        # A passkey alone proves two factors: possession, and the user verification
        # the authenticator did (factors/policy.py).
        amr = f"{proved.method} mfa"
        signed_in = SignedIn(user.id or 0, user.username, amr, browser.user_agent, browser.address)
        previous = browser.active_session(db, now)
        return establish_session(db, signed_in, previous, now, services.settings.session_ttl)

    started = _in_transaction(services, work)
    response = see_other(services.settings.issuer + (next_path or "/login"))
    return browser.clear_pending(browser.set_session(response, started.cookie_value))


def _second_factor(
    services: Services,
    browser: Browser,
    token: str | None,
    credential: object,
    next_path: str | None,
) -> Response:
    signing = _signing(services, browser, token)
    rp = _relying_party(services)
    proved = _in_transaction(
        services,
        lambda db, now: verify_assertion(db, rp, SECOND_FACTOR, signing.binding, credential, now),
    )
    return complete_second_factor(services, browser, signing, proved.method, next_path)


def _purpose(body: Body) -> str:
    purpose = body.get("purpose")
    if purpose not in (SIGN_IN, SECOND_FACTOR):
        raise InvalidRequestError("purpose must be sign-in or second-factor.")
    return str(purpose)


def _check_login_token(browser: Browser, token: str | None) -> None:
    """The login page's token: a sign-in with a passkey starts there."""
    if not csrf_token_matches(browser.csrf_secret, LOGIN_PURPOSE, token):
        raise InvalidRequestError(_EXPIRED)


def _signing(services: Services, browser: Browser, token: str | None) -> Signing:
    signing = signing_in(services, browser)
    if signing is None:
        raise LoginRequiredError("There is no sign-in to complete. Please sign in again.")
    if not csrf_token_matches(browser.csrf_secret, signing.csrf_purpose, token):
        raise InvalidRequestError(_EXPIRED)
    return signing


def _browser_binding(browser: Browser) -> str:
    """What binds a username-less sign-in's challenge to this browser: its CSRF secret
    (an HttpOnly cookie), hashed."""
    return opaque_hash(browser.csrf_secret)


def _as_json(redirect: Response) -> Response:
    """A sign-in's 303 as JSON: passkeys.js goes to `location` itself. The cookies the
    redirect sets go with it."""
    answer = json_response(200, {"location": redirect.headers["location"]})
    answer.raw_headers.extend(
        (name, value) for name, value in redirect.raw_headers if name == b"set-cookie"
    )
    return answer


# --- both ------------------------------------------------------------------------------


def _in_transaction(services: Services, work: Callable[[Session, datetime], T]) -> T:
    """`work` in one transaction. A refusal (`OAuth2Error`) commits it too, then is
    raised: the challenge it consumed stays used, and its audit event stays recorded."""
    with services.database.transaction() as db:
        try:
            return work(db, utcnow())
        except OAuth2Error as error:
            refusal = error
    raise refusal


def _relying_party(services: Services) -> RelyingParty:
    return relying_party_of(services.settings.issuer)


# --- account page ----------------------------------------------------------------------


def _remove(form: AccountForm) -> Response:
    if not form.recently_signed_in():
        return form.sign_in_again()
    credential_id = form.fields.get("credential_id", "")
    if not credential_id or remove_passkey(form.db, form.account.user, credential_id) is None:
        return form.page(error="That passkey is not yours.", status=400)
    return form.back_to_account()

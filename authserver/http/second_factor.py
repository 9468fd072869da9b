"""The second step of a sign-in (/login/second-factor): a TOTP code, a recovery code or
(http/passkeys.py) a passkey.

It answers two kinds of browser:
- one with a pending sign-in (its password was right, factors/pending.py): the proof
  turns it into a session;
- one with a session that proved a single factor, sent here because the authorization
  needs two (a step-up, factors/policy.py): the proof renews that session (same `sid`,
  new `auth_time`, `amr` with `mfa`).
Guesses are throttled per account and per address like passwords (login/throttle.py).
"""

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.responses import Response

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.factors.enrolled import SecondFactors, second_factors_of
from authserver.factors.pending import find_pending, finish_pending
from authserver.factors.policy import is_multi_factor, with_second_factor
from authserver.factors.recovery import use_recovery_code
from authserver.factors.totp import verify_totp
from authserver.http.account_totp import enrolment_path
from authserver.http.browser import Browser
from authserver.http.login import returning_to, safe_next
from authserver.http.page_routes import page_or_form
from authserver.http.pages import render_page, see_other
from authserver.login.csrf import csrf_token, csrf_token_matches
from authserver.login.models import LoginSession
from authserver.login.sessions import SignedIn, establish_session
from authserver.login.throttle import second_factor_key
from authserver.passkeys.relying_party import passkeys_possible
from authserver.services import Services
from authserver.users.models import User

router = APIRouter()

PATH = "/login/second-factor"
FAILED = "That code is not right, or was used already."
_MAX_CODE_LENGTH = 40


@dataclass(frozen=True)
class Signing:
    """Who is proving a second factor, with what proved so far."""

    user: User
    amr: str
    # The pending sign-in's hash, or the session's `sid` for a step-up: what the form's
    # CSRF token and a passkey challenge are bound to.
    binding: str
    pending_hash: str | None
    session: LoginSession | None
    factors: SecondFactors

    @property
    def csrf_purpose(self) -> str:
        return f"second-factor:{self.binding}"


def signing_in(services: Services, browser: Browser) -> Signing | None:
    """The pending sign-in of this browser, else its single-factor session; None if
    neither (nothing to prove a second factor for)."""
    with services.database.transaction() as db:
        now = utcnow()
        login_session = browser.active_session(db, now)
        pending = find_pending(db, browser.pending_secret, now)
        if pending is not None:
            user = db.get(User, pending.user_id)
            binding, amr, pending_hash = pending.secret_hash, pending.amr, pending.secret_hash
        elif login_session is not None and not is_multi_factor(login_session.amr):
            user = db.get(User, login_session.user_id)
            binding, amr, pending_hash = login_session.sid, login_session.amr, None
        else:
            return None
        if user is None or user.disabled or user.id is None:
            return None
        factors = second_factors_of(db, user.id)
        return Signing(user, amr, binding, pending_hash, login_session, factors)


@router.api_route(PATH, methods=["GET", "POST"])
async def second_factor_endpoint(request: Request) -> Response:
    return await page_or_form(request, _page, _answer, "Sign-in failed")


def _page(services: Services, browser: Browser, next_path: str | None) -> Response:
    signing = signing_in(services, browser)
    if signing is None:
        return _to_login(services, next_path)
    if not signing.factors.any:
        # A step-up for a user without a second factor: enrol one first.
        return see_other(services.settings.issuer + enrolment_path(next_path))
    return _form(browser, signing, next_path)


def _answer(services: Services, browser: Browser, form: dict[str, str]) -> Response:
    next_path = safe_next(form.get("next"))
    signing = signing_in(services, browser)
    if signing is None:
        return _to_login(services, next_path)
    if not csrf_token_matches(browser.csrf_secret, signing.csrf_purpose, form.get("csrf_token")):
        return _form(browser, signing, next_path, "This form expired. Please try again.", 400)
    code = form.get("code", "").strip()
    if not code or len(code) > _MAX_CODE_LENGTH:
        return _form(browser, signing, next_path, "Enter the code.")
    user_id = signing.user.id
    assert user_id is not None
    account = second_factor_key(user_id)
    throttle = services.login_throttle
    if wait := throttle.reserve(account, browser.address):
        seconds = max(1, int(wait.total_seconds()) + 1)
        page = _form(
            browser, signing, next_path, f"Too many attempts. Please wait {seconds} seconds.", 429
        )
        page.headers["Retry-After"] = str(seconds)
        return page
    with services.database.transaction() as db:
        now = utcnow()
        proved = verify_totp(db, services.sealer, user_id, code, now)
        if not proved and use_recovery_code(db, user_id, code, now):
            proved = True
            record_event(
                db, "mfa.recovery_code_used", user_id=user_id, username=signing.user.username
            )
        if not proved:
            record_event(
                db, "login.second_factor_failed", user_id=user_id, username=signing.user.username
            )
    if not proved:
        throttle.failed(account, browser.address)
        return _form(browser, signing, next_path, FAILED)
    throttle.succeeded(account, browser.address)
    return complete_second_factor(services, browser, signing, "otp", next_path)


def complete_second_factor(
    services: Services, browser: Browser, signing: Signing, method: str, next_path: str | None
) -> Response:
    """The second factor (`method`: `otp`, `hwk`, `swk`) is proved: a session with both,
    and on to `next_path`. Used by the code form here and by a passkey."""
    with services.database.transaction() as db:
        now = utcnow()
        if signing.pending_hash is not None:
            pending = find_pending(db, browser.pending_secret, now)
            if pending is None or not finish_pending(db, pending):
                return _to_login(services, next_path)
        signed_in = SignedIn(
            signing.user.id or 0,
            signing.user.username,
            with_second_factor(signing.amr, method),
            browser.user_agent,
            browser.address,
        )
        previous = browser.active_session(db, now)
        started = establish_session(db, signed_in, previous, now, services.settings.session_ttl)
    response = see_other(services.settings.issuer + (next_path or "/login"))
    return browser.clear_pending(browser.set_session(response, started.cookie_value))


def _to_login(services: Services, next_path: str | None) -> Response:
    return see_other(services.settings.issuer + returning_to("/login", next_path))


def _form(
    browser: Browser,
    signing: Signing,
    next_path: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render_page(
        "second_factor.html",
        status,
        csrf_token=csrf_token(browser.csrf_secret, signing.csrf_purpose),
        next=next_path,
        username=signing.user.username,
        factors=signing.factors,
        passkeys_offered=passkeys_possible(browser.settings.issuer),
        error=error,
    )

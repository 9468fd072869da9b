"""The account page (/account): a signed-in user's profile, password, second factors,
sessions and the applications they let in.

Every action is a POST with a CSRF token bound to the session (`account_csrf_purpose`),
is audited, and ends what it must: signing a session out revokes the token families
issued in it and tells its clients (back-channel logout); "revoke access" forgets the
consent and revokes the app's families for this user.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import APIRouter, Request
from sqlmodel import Session, col, select
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.audit import record_event
from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.factors.enrolled import second_factors_of
from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.login import returning_to
from authserver.http.pages import error_page, render_page, see_other
from authserver.login.csrf import csrf_token, csrf_token_matches
from authserver.login.models import LoginSession
from authserver.login.repository import ConsentRepository, SessionRepository
from authserver.login.sessions import end_all_sessions_of_user, end_session_by_sid
from authserver.login.throttle import account_key
from authserver.passkeys.models import Passkey
from authserver.passkeys.relying_party import passkeys_possible
from authserver.services import Services
from authserver.tokens.repository import FamilyRepository
from authserver.users.authentication import password_matches
from authserver.users.models import User
from authserver.users.passwords import MAX_PASSWORD_LENGTH

router = APIRouter()

PATH = "/account"
MIN_PASSWORD_LENGTH = 8
RECENT_SIGN_IN = timedelta(minutes=15)
SIGN_IN_AGAIN = "For your safety, sign in again to change how you sign in."
_EXPIRED = "This form expired. Please try again."


def account_csrf_purpose(login_session: LoginSession) -> str:
    return f"account:{login_session.sid}"


@dataclass(frozen=True)
class Account:
    """The signed-in user of an account page request."""

    user: User
    session: LoginSession

    @property
    def user_id(self) -> int:
        assert self.user.id is not None
        return self.user.id


def signed_in_account(db: Session, browser: Browser, now: datetime) -> Account | None:
    login_session = browser.active_session(db, now)
    if login_session is None:
        return None
    user = db.get(User, login_session.user_id)
    if user is None or user.disabled:
        return None
    return Account(user, login_session)


def signed_in_recently(login_session: LoginSession, now: datetime) -> bool:
    """Second factors are added or removed only within RECENT_SIGN_IN of a sign-in (a
    "sudo mode"): a stolen session cookie alone cannot change them. A user with a factor
    signs in with it, so a recent sign-in of theirs proved two."""
    return now - login_session.auth_time <= RECENT_SIGN_IN


def to_login(issuer: str, back_to: str = PATH) -> Response:
    return see_other(issuer + returning_to("/login", back_to))


@router.get(PATH)
async def account_page(request: Request) -> Response:
    browser = Browser.of(request)
    services: Services = request.app.state.services
    response = await run_in_threadpool(_page, services, browser)
    return browser.keep_csrf_secret(response)


def _page(services: Services, browser: Browser) -> Response:
    with services.database.transaction() as db:
        now = utcnow()
        account = signed_in_account(db, browser, now)
        if account is None:
            return to_login(services.settings.issuer)
        return render_account(db, services, browser, account, now)


def render_account(
    db: Session,
    services: Services,
    browser: Browser,
    account: Account,
    now: datetime,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    settings = services.settings
    sessions = SessionRepository(db).of_user(account.user_id, now, settings.session_idle_ttl)
    consents = ConsentRepository(db).of_user(account.user_id)
    apps = [(consent, db.get(Client, consent.client_id)) for consent in consents]
    passkeys = db.exec(
        select(Passkey).where(Passkey.user_id == account.user_id).order_by(col(Passkey.created_at))
    ).all()
    return render_page(
        "account.html",
        status,
        user=account.user,
        account_url=settings.issuer + PATH,
        current_sid=account.session.sid,
        sessions=sessions,
        apps=[(consent, client) for consent, client in apps if client is not None],
        factors=second_factors_of(db, account.user_id),
        passkeys=passkeys,
        passkeys_offered=passkeys_possible(settings.issuer),
        mfa_mode=settings.mfa,
        csrf_token=csrf_token(browser.csrf_secret, account_csrf_purpose(account.session)),
        notice=notice,
        error=error,
        min_password_length=MIN_PASSWORD_LENGTH,
    )


@dataclass(frozen=True)
class AccountForm:
    """One posted account-page form of the signed-in user, in its transaction."""

    db: Session
    services: Services
    browser: Browser
    account: Account
    fields: dict[str, str]
    now: datetime

    def page(
        self, *, notice: str | None = None, error: str | None = None, status: int = 200
    ) -> Response:
        """The account page again, with what happened."""
        return render_account(
            self.db, self.services, self.browser, self.account, self.now, notice, error, status
        )

    def back_to_account(self) -> Response:
        return see_other(self.services.settings.issuer + PATH)

    def recently_signed_in(self) -> bool:
        return signed_in_recently(self.account.session, self.now)

    def sign_in_again(self) -> Response:
        return self.page(error=SIGN_IN_AGAIN, status=403)


Action = Callable[[AccountForm], Response]


def account_action(
    services: Services, browser: Browser, fields: dict[str, str], action: Action
) -> Response:
    """Run `action` for the signed-in user if the form's CSRF token is this session's."""
    with services.database.transaction() as db:
        now = utcnow()
        account = signed_in_account(db, browser, now)
        if account is None:
            return to_login(services.settings.issuer)
        form = AccountForm(db, services, browser, account, fields, now)
        purpose = account_csrf_purpose(account.session)
        if not csrf_token_matches(browser.csrf_secret, purpose, fields.get("csrf_token")):
            return form.page(error=_EXPIRED, status=400)
        return action(form)


async def account_form(request: Request, action: Action) -> Response:
    browser = Browser.of(request)
    try:
        fields = dict(await read_page_form(request))
    except BadFormError:
        return error_page("Account", "The form could not be read. Please try again.")
    services: Services = request.app.state.services
    response = await run_in_threadpool(account_action, services, browser, fields, action)
    return browser.keep_csrf_secret(response)


# --- sessions --------------------------------------------------------------------------


@router.post(PATH + "/sessions/end")
async def end_one_session(request: Request) -> Response:
    return await account_form(request, _end_one_session)


def _end_one_session(form: AccountForm) -> Response:
    sid, account = form.fields.get("sid", ""), form.account
    target = SessionRepository(form.db).find_by_sid(sid) if sid else None
    if target is None or target.user_id != account.user_id:
        return form.page(error="That session is not yours.", status=400)
    end_session_by_sid(form.db, sid, account.user_id, form.now, "signed out from the account page")
    if sid == account.session.sid:
        return form.browser.clear_session(to_login(form.services.settings.issuer))
    return form.back_to_account()


@router.post(PATH + "/sessions/end-all")
async def end_every_session(request: Request) -> Response:
    return await account_form(request, _end_every_session)


def _end_every_session(form: AccountForm) -> Response:
    end_all_sessions_of_user(form.db, form.account.user_id, form.now, "signed out everywhere")
    return form.browser.clear_session(to_login(form.services.settings.issuer))


# --- applications ----------------------------------------------------------------------


@router.post(PATH + "/apps/revoke")
async def revoke_app(request: Request) -> Response:
    return await account_form(request, _revoke_app)


def _revoke_app(form: AccountForm) -> Response:
    client_id, account = form.fields.get("client_id", ""), form.account
    if not client_id or not ConsentRepository(form.db).revoke(account.user_id, client_id):
        return form.page(error="That application has no access.", status=400)
    FamilyRepository(form.db).revoke_of_user_and_client(account.user_id, client_id, form.now)
    record_event(
        form.db,
        "consent.revoked",
        user_id=account.user_id,
        username=account.user.username,
        client_id=client_id,
    )
    return form.back_to_account()


# --- password --------------------------------------------------------------------------


@router.post(PATH + "/password")
async def change_password(request: Request) -> Response:
    return await account_form(request, _change_password)


def _change_password(form: AccountForm) -> Response:
    fields, account, browser = form.fields, form.account, form.browser
    current, new = fields.get("current_password", ""), fields.get("new_password", "")
    problem = _new_password_problem(new, fields.get("confirm_password", ""), account.user)
    if problem:
        return form.page(error=problem, status=400)
    throttle, key = form.services.login_throttle, account_key(account.user.username)
    if wait := throttle.reserve(key, browser.address):
        seconds = max(1, int(wait.total_seconds()) + 1)
        message = f"Too many attempts. Please wait {seconds} seconds and try again."
        page = form.page(error=message, status=429)
        page.headers["Retry-After"] = str(seconds)
        return page
    hashing = form.services.sign_in.hashing
    if not password_matches(hashing, account.user, current):
        throttle.failed(key, browser.address)
        return form.page(error="The current password is not right.", status=400)
    throttle.succeeded(key, browser.address)
    account.user.password_hash, account.user.updated_at = hashing.hash(new), form.now
    form.db.add(account.user)
    ended = 0
    if fields.get("sign_out_others") == "yes":
        idle_ttl = form.services.settings.session_idle_ttl
        for other in SessionRepository(form.db).of_user(account.user_id, form.now, idle_ttl):
            if other.sid != account.session.sid:
                end_session_by_sid(
                    form.db, other.sid, account.user_id, form.now, "password changed"
                )
                ended += 1
    record_event(
        form.db,
        "password.changed",
        user_id=account.user_id,
        username=account.user.username,
        sessions_ended=ended,
    )
    return form.page(notice="Your password was changed.")


def _new_password_problem(new: str, confirmation: str, user: User) -> str | None:
    if len(new) < MIN_PASSWORD_LENGTH:
        return f"The new password needs at least {MIN_PASSWORD_LENGTH} characters."
    if len(new) > MAX_PASSWORD_LENGTH:
        return f"The new password can have at most {MAX_PASSWORD_LENGTH} characters."
    if new != confirmation:
        return "The new password and its confirmation differ."
    if new.casefold() == user.username.casefold():
        return "The new password cannot be your username."
    return None

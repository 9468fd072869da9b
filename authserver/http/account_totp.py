"""TOTP on the account page: enrolment (/account/totp), removal, recovery codes.

Enrolment shows the secret as a QR code (SVG, made here) and as text, and is confirmed by
a first code; the session then counts as two-factor (`pwd otp mfa`: the user has just
proved both) and ten recovery codes are shown, once. A user sent here because an
authorization needs a second factor (`next`) goes back to it afterwards.
"""

from datetime import datetime

from fastapi import APIRouter, Request
from sqlmodel import Session
from starlette.responses import Response

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.factors.enrolled import second_factors_of
from authserver.factors.policy import with_second_factor
from authserver.factors.recovery import new_recovery_codes, remove_recovery_codes
from authserver.factors.totp import (
    Enrolment,
    begin_enrolment,
    confirm_enrolment,
    confirmed_totp,
    pending_enrolment,
    remove_totp,
)
from authserver.http.account import (
    PATH,
    Account,
    AccountForm,
    account_csrf_purpose,
    account_form,
    signed_in_account,
    signed_in_recently,
    to_login,
)
from authserver.http.browser import Browser
from authserver.http.login import returning_to, safe_next
from authserver.http.page_routes import page_or_form
from authserver.http.pages import error_page, render_page, see_other
from authserver.login.csrf import csrf_token, csrf_token_matches
from authserver.login.sessions import SignedIn, establish_session
from authserver.services import Services

router = APIRouter()

TOTP_PATH = PATH + "/totp"
_MFA_OFF = "Two-step verification is turned off on this server."


@router.api_route(TOTP_PATH, methods=["GET", "POST"])
async def totp_enrolment(request: Request) -> Response:
    return await page_or_form(request, _begin, _confirm, "Two-step verification")


def _begin(services: Services, browser: Browser, next_path: str | None) -> Response:
    settings = services.settings
    if settings.mfa == "off":
        return error_page("Two-step verification", _MFA_OFF, 404)
    with services.database.transaction() as db:
        now = utcnow()
        account = signed_in_account(db, browser, now)
        if account is None or not signed_in_recently(account.session, now):
            return to_login(settings.issuer, enrolment_path(next_path))
        if confirmed_totp(db, account.user_id) is not None:
            return see_other(settings.issuer + PATH)
        label = account.user.username
        enrolment = pending_enrolment(
            db, services.sealer, account.user_id, label, _issuer_name(services)
        ) or begin_enrolment(
            db, services.sealer, account.user_id, label, _issuer_name(services), now
        )
        return _enrolment_page(services, browser, account, enrolment, next_path)


def _confirm(services: Services, browser: Browser, form: dict[str, str]) -> Response:
    settings = services.settings
    next_path = safe_next(form.get("next"))
    if settings.mfa == "off":
        return error_page("Two-step verification", _MFA_OFF, 404)
    with services.database.transaction() as db:
        now = utcnow()
        account = signed_in_account(db, browser, now)
        if account is None or not signed_in_recently(account.session, now):
            return to_login(settings.issuer, enrolment_path(next_path))
        purpose = account_csrf_purpose(account.session)
        enrolment = pending_enrolment(
            db, services.sealer, account.user_id, account.user.username, _issuer_name(services)
        )
        if enrolment is None:
            return see_other(settings.issuer + enrolment_path(next_path))
        if not csrf_token_matches(browser.csrf_secret, purpose, form.get("csrf_token")):
            return _enrolment_page(
                services, browser, account, enrolment, next_path, "This form expired.", 400
            )
        code = form.get("code", "")
        if len(code) > 40 or not confirm_enrolment(db, services.sealer, account.user_id, code, now):
            message = "That code is not right. Check the time on your device and try again."
            return _enrolment_page(services, browser, account, enrolment, next_path, message, 400)
        record_event(
            db, "mfa.totp_enrolled", user_id=account.user_id, username=account.user.username
        )
        codes = _new_codes(db, account, now)
        # The user has just proved the password (the session) and the new factor.
        signed_in = SignedIn(
            account.user_id,
            account.user.username,
            with_second_factor(account.session.amr, "otp"),
            browser.user_agent,
            browser.address,
        )
        started = establish_session(db, signed_in, account.session, now, settings.session_ttl)
    page = _codes_page(services, codes, next_path)
    return browser.set_session(page, started.cookie_value)


@router.post(TOTP_PATH + "/remove")
async def remove(request: Request) -> Response:
    return await account_form(request, _remove)


def _remove(form: AccountForm) -> Response:
    account = form.account
    if not form.recently_signed_in():
        return form.sign_in_again()
    if remove_totp(form.db, account.user_id):
        record_event(
            form.db, "mfa.totp_removed", user_id=account.user_id, username=account.user.username
        )
    if not second_factors_of(form.db, account.user_id).any:
        remove_recovery_codes(form.db, account.user_id)
    return form.page(notice="The authenticator app was removed.")


@router.post(PATH + "/recovery-codes")
async def recovery_codes(request: Request) -> Response:
    return await account_form(request, _recovery_codes)


def _recovery_codes(form: AccountForm) -> Response:
    if not form.recently_signed_in():
        return form.sign_in_again()
    if not second_factors_of(form.db, form.account.user_id).any:
        return form.page(error="Set up a second factor first.", status=400)
    return _codes_page(form.services, _new_codes(form.db, form.account, form.now), None)


def _new_codes(db: Session, account: Account, now: datetime) -> list[str]:
    codes = new_recovery_codes(db, account.user_id, now)
    record_event(
        db, "mfa.recovery_codes_created", user_id=account.user_id, username=account.user.username
    )
    return codes


def _enrolment_page(
    services: Services,
    browser: Browser,
    account: Account,
    enrolment: Enrolment,
    next_path: str | None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render_page(
        "totp_enrol.html",
        status,
        qr_svg=enrolment.qr_svg,
        secret=enrolment.secret,
        action=services.settings.issuer + TOTP_PATH,
        csrf_token=csrf_token(browser.csrf_secret, account_csrf_purpose(account.session)),
        next=next_path,
        error=error,
    )


def _codes_page(services: Services, codes: list[str], next_path: str | None) -> Response:
    issuer = services.settings.issuer
    return render_page(
        "recovery_codes.html", codes=codes, continue_url=issuer + (next_path or PATH)
    )


def enrolment_path(next_path: str | None) -> str:
    """Where a user sets up TOTP; also where one who must have a second factor and has
    none is sent."""
    return returning_to(TOTP_PATH, next_path)


def _issuer_name(services: Services) -> str:
    """The name authenticator apps list the account under: the issuer's host."""
    issuer = services.settings.issuer
    return issuer.split("://", 1)[-1].split("/", 1)[0]

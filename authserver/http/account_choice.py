"""prompt=select_account (OIDC Core §3.1.2.1): the account an authorization is for.

A browser holds one session here, so the choice is between the account signed in and
another one. The page shows the signed-in username and two buttons, posted back to
/authorize with the authorization parameters and a CSRF token bound to this session and
exactly these parameters (`login.csrf`):
- `account=continue`: a 303 back to /authorize with an `account_chosen` marker, a MAC
  with the browser's secret over the session and the other parameters. It answers the
  prompt for that session, so the page is not shown again (no loop).
- `account=switch`: the session ends as at /logout (its token families revoked, its
  clients sent a Logout Token, `session.ended` audited), then the login page; its way
  back (`sign_in_after`) answers the prompt with the sign-in itself.
Without a session there is nothing to choose: select_account leads to sign-in.
"""

from urllib.parse import urlencode, urlsplit

from sqlmodel import Session
from starlette.responses import Response

from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.http.browser import Browser
from authserver.http.pages import error_page, render_page, see_other
from authserver.http.sign_in_first import sign_in_first
from authserver.login.csrf import csrf_token, csrf_token_matches, parameters_digest
from authserver.login.models import LoginSession
from authserver.login.sessions import end_session
from authserver.users.models import User

ACCOUNT_FIELD = "account"
ACCOUNT_CHOSEN = "account_chosen"
CONTINUE = "continue"
SWITCH = "switch"
SWITCH_REASON = "use another account"


def account_page(
    browser: Browser,
    client: Client,
    user: User,
    login_session: LoginSession,
    pairs: list[tuple[str, str]],
) -> Response:
    pairs = _without_marker(pairs)
    redirect_uri = dict(pairs)["redirect_uri"]
    return render_page(
        "select_account.html",
        client_name=client.name,
        username=user.username,
        parameters=pairs,
        csrf_token=csrf_token(browser.csrf_secret, _page_purpose(login_session, pairs)),
        redirect_host=urlsplit(redirect_uri).netloc or redirect_uri,
    )


def account_chosen(
    browser: Browser, login_session: LoginSession, pairs: list[tuple[str, str]]
) -> bool:
    """Whether the request carries the marker of this session's "Continue" for exactly
    these parameters."""
    markers = [value for name, value in pairs if name == ACCOUNT_CHOSEN]
    if len(markers) != 1:
        return False
    purpose = _marker_purpose(login_session, _without_marker(pairs))
    return csrf_token_matches(browser.csrf_secret, purpose, markers[0])


def answer_account_choice(
    db: Session,
    browser: Browser,
    issuer: str,
    pairs: list[tuple[str, str]],
    choice: str,
    token: str,
) -> Response:
    """The page's answer, once its client and redirect_uri are verified."""
    now = utcnow()
    pairs = _without_marker(pairs)
    login_session = browser.active_session(db, now)
    if login_session is None:
        # Signed out meanwhile (or never signed in): there is one account to choose, by
        # signing in. Nothing changes here, so no CSRF token is needed.
        return sign_in_first(browser, issuer, pairs, now)
    if not csrf_token_matches(browser.csrf_secret, _page_purpose(login_session, pairs), token):
        return error_page("This page expired", "Go back to the application and try again.")
    if choice == CONTINUE:
        marker = csrf_token(browser.csrf_secret, _marker_purpose(login_session, pairs))
        return see_other(f"{issuer}/authorize?" + urlencode([*pairs, (ACCOUNT_CHOSEN, marker)]))
    if choice == SWITCH:
        end_session(db, login_session, now, SWITCH_REASON)
        return browser.clear_session(sign_in_first(browser, issuer, pairs, now))
    return error_page("Choose an account", "The answer could not be read. Please try again.")


def _without_marker(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [(name, value) for name, value in pairs if name != ACCOUNT_CHOSEN]


def _page_purpose(login_session: LoginSession, pairs: list[tuple[str, str]]) -> str:
    return f"select-account:{login_session.sid}:{parameters_digest(pairs)}"


def _marker_purpose(login_session: LoginSession, pairs: list[tuple[str, str]]) -> str:
    return f"account-chosen:{login_session.sid}:{parameters_digest(pairs)}"

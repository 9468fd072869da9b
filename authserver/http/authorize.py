"""The authorization endpoint (/authorize): RFC 6749 §4.1, RFC 7636, OIDC Core §3.1.2.

Order of checks, each per its RFC:
0. A `request_uri` from /par is exchanged for the parameters pushed with it, once
   (RFC 9126 §4, `http.pushed_request`); where PAR is required, any other request
   gets invalid_request at its (verified) redirect_uri.
1. `client_id` and `redirect_uri` must name a registered client and one of its exact
   redirect URIs; otherwise an error page, never a redirect (RFC 6749 §4.1.2.1).
2. The rest of the request (response_type, scope, PKCE, prompt, max_age, dpop_jkt) is
   validated by Authlib's grant with our checks, the same as at /par
   (`grants.authorization_request`); its errors go back to the redirect_uri with
   `state` and `iss` (RFC 9207).
3. The browser's session, or a sign-in first (prompt=login and max_age force one, and so
   does a `claims` request naming another user's `sub`; prompt=none instead answers
   `login_required`). The way back from the login page is `http.sign_in_first`.
4. prompt=select_account: the account page (`http.account_choice`), unless the user has
   just signed in or chosen this account for this request.
5. Consent, unless remembered or the client skips it (prompt=none: `consent_required`).
   It covers the requested scope and the scopes of the claims the `claims` parameter
   asks for (`grants.claims_request`).
6. A code, sent to the redirect_uri with `state` and `iss`.
A consent decision or an account choice comes back as a POST of the same parameters
with a CSRF token.
"""

from datetime import datetime, timedelta
from urllib.parse import urlencode, urlsplit

from authlib.common.urls import add_params_to_uri
from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from authserver.audit import record_event
from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.errors import (
    AccessDeniedError,
    ConsentRequiredError,
    InteractionRequiredError,
    InvalidRequestError,
    LoginRequiredError,
    OAuth2Error,
)
from authserver.factors.policy import is_multi_factor, mfa_needed
from authserver.grants.authorization_request import check_authorization_request
from authserver.grants.claims_request import ClaimsRequest
from authserver.http.account_choice import (
    ACCOUNT_FIELD,
    account_chosen,
    account_page,
    answer_account_choice,
)
from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.forms import reject_nul
from authserver.http.login import second_factor_url
from authserver.http.pages import error_page, render_page, see_other
from authserver.http.pushed_request import resolve_pushed_request
from authserver.http.sign_in_first import microseconds, sign_in_first, signed_in_after
from authserver.login.csrf import csrf_token, csrf_token_matches, parameters_digest
from authserver.login.models import LoginSession
from authserver.login.repository import ConsentRepository
from authserver.oauth import FormRequest
from authserver.profiles.fapi2 import par_required
from authserver.scopes import SCOPE_DESCRIPTIONS
from authserver.services import Services
from authserver.users.models import User

router = APIRouter()

_INVALID_LINK = "This sign-in link is not valid"


@router.api_route("/authorize", methods=["GET", "POST"])
async def authorization_endpoint(request: Request) -> Response:
    """One route for both methods, so that a 405 names both in `Allow` (RFC 9110 §15.5.6)."""
    if request.method == "POST":
        return await decide(request)
    return await authorize(request)


async def authorize(request: Request) -> Response:
    browser = Browser.of(request)
    # RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    pairs = [(name, value) for name, value in request.query_params.multi_items() if value]
    try:
        reject_nul(pairs)
    except InvalidRequestError:
        return error_page(_INVALID_LINK, "The request contains a character it cannot.")
    response = await run_in_threadpool(_authorize, request.app.state.services, browser, pairs)
    return browser.keep_csrf_secret(response)


async def decide(request: Request) -> Response:
    """The consent form's answer (the authorization parameters, a CSRF token, a decision),
    the account page's, or an authorization request sent as a form (OIDC Core §3.1.2.1:
    GET and POST)."""
    browser = Browser.of(request)
    try:
        form = await read_page_form(request)
    except BadFormError:
        return error_page(_INVALID_LINK, "The form could not be read.")
    fields = dict(form)
    services = request.app.state.services
    if ACCOUNT_FIELD in fields:
        pairs = [(name, value) for name, value in form if name not in ("csrf_token", ACCOUNT_FIELD)]
        answer = (fields[ACCOUNT_FIELD], fields.get("csrf_token", ""))
        response = await run_in_threadpool(_choose_account, services, browser, pairs, answer)
        return _see_other(browser.keep_csrf_secret(response))
    if "decision" not in fields:
        pairs = [(name, value) for name, value in form if value]
        response = await run_in_threadpool(_authorize, services, browser, pairs)
        return _see_other(browser.keep_csrf_secret(response))
    pairs = [(name, value) for name, value in form if name not in ("csrf_token", "decision")]
    decision = (fields.get("decision", ""), fields.get("csrf_token", ""))
    return _see_other(await run_in_threadpool(_authorize, services, browser, pairs, decision))


def _see_other(response: Response) -> Response:
    """A redirect answering a form POST is a 303, so the browser follows it with a GET and
    never re-sends the form (RFC 9700 §4.12; FAPI 2.0 §5.3.2.2 items 10-11)."""
    if response.status_code == 302:
        response.status_code = 303
    return response


def _authorize(
    services: Services,
    browser: Browser,
    pairs: list[tuple[str, str]],
    decision: tuple[str, str] | None = None,
) -> Response:
    resolved = resolve_pushed_request(services, browser, pairs)
    if isinstance(resolved, Response):
        return resolved
    pairs = resolved.pairs
    found = _client_and_redirect_uri(services, pairs)
    if isinstance(found, Response):
        return found
    client, redirect_uri = found
    state = next((value for name, value in pairs if name == "state"), None)
    issuer = services.settings.issuer
    try:
        with services.database.transaction() as db:
            now = utcnow()
            request = FormRequest("GET", issuer + "/authorize", {}, pairs)
            request.db = db
            # RFC 9126 §4: a client (or server, or FAPI 2.0 profile) that requires PAR
            # gets invalid_request for a request that did not come through /par.
            if not resolved.pushed and par_required(client, services.settings):
                raise InvalidRequestError("This authorization request must be pushed to /par.")
            login_session = browser.active_session(db, now)
            user = db.get(User, login_session.user_id) if login_session else None
            if user is not None and user.disabled:
                login_session, user = None, None
            checked = check_authorization_request(services.oauth, request, client, user)
            grant, prompts, max_age = checked.grant, checked.prompts, checked.max_age
            claims = checked.claims
            after = signed_in_after(browser, pairs)
            fresh_enough = login_session is not None and _fresh_enough(
                prompts, max_age, login_session, now, after
            )
            if (
                user is None
                or login_session is None
                or not fresh_enough
                or _is_another_user(claims, user, after)
            ):
                if "none" in prompts:
                    raise LoginRequiredError()
                return sign_in_first(browser, issuer, pairs, now)
            # OIDC Core §3.1.2.1 select_account: asked once, answered by a sign-in made
            # for this request or by "Continue" on this session (no loop).
            choose = "select_account" in prompts and decision is None and after is None
            if choose and not account_chosen(browser, login_session, pairs):
                return account_page(browser, client, user, login_session, pairs)
            # factors/policy.py: a second factor, proved in this session, when required.
            acr_values = checked.acr_values
            needed = mfa_needed(services.settings.mfa, client.require_mfa, acr_values)
            if needed and not is_multi_factor(login_session.amr):
                if "none" in prompts:
                    raise InteractionRequiredError("A second factor is required.")
                return see_other(second_factor_url(issuer, "/authorize?" + urlencode(pairs)))
            scopes = frozenset(request.scope.split()) | claims.scopes
            consents = ConsentRepository(db)
            if decision is None:
                remembered = scopes <= consents.granted_scopes(user.id, client.client_id)
                if "consent" in prompts or not (client.skip_consent or remembered):
                    if "none" in prompts:
                        raise ConsentRequiredError()
                    return _consent_page(browser, client, user, login_session, pairs, scopes)
            else:
                answer, token = decision
                purpose = _consent_purpose(login_session, pairs)
                if not csrf_token_matches(browser.csrf_secret, purpose, token):
                    return error_page(
                        "Consent expired", "Go back to the application and try again."
                    )
                if answer != "approve":
                    raise AccessDeniedError()
                consents.grant(user.id, client.client_id, scopes, now)
                record_event(
                    db,
                    "consent.granted",
                    user_id=user.id,
                    username=user.username,
                    client_id=client.client_id,
                    scope=" ".join(dict.fromkeys([*request.scope.split(), *sorted(claims.scopes)])),
                )
            request.login_session = login_session
            request.claims_request = claims
            request.acr_requested = bool(acr_values)
            _, _, headers = grant.create_authorization_response(redirect_uri, user)
            return _redirect(dict(headers)["Location"], issuer)
    except OAuth2Error as error:
        # RFC 6749 §4.1.2.1: the redirect_uri is verified, so the error goes back to it.
        error.redirect_uri, error.state = redirect_uri, state
        _, _, headers = error()
        return _redirect(dict(headers)["Location"], issuer)


def _client_and_redirect_uri(
    services: Services, pairs: list[tuple[str, str]]
) -> tuple[Client, str] | Response:
    client_ids = [value for name, value in pairs if name == "client_id"]
    redirect_uris = [value for name, value in pairs if name == "redirect_uri"]
    if len(client_ids) != 1:
        return error_page(_INVALID_LINK, "The request must name exactly one client_id.")
    client = services.oauth.query_client(client_ids[0])
    if client is None:
        return error_page(_INVALID_LINK, "The application is not registered here.")
    # RFC 9700 §2.1: the exact, byte-for-byte registered string; no default, no pattern.
    if len(redirect_uris) != 1 or not client.check_redirect_uri(redirect_uris[0]):
        return error_page(
            _INVALID_LINK, "The redirect URI is missing or not registered for this application."
        )
    return client, redirect_uris[0]


def _choose_account(
    services: Services, browser: Browser, pairs: list[tuple[str, str]], answer: tuple[str, str]
) -> Response:
    found = _client_and_redirect_uri(services, pairs)
    if isinstance(found, Response):
        return found
    choice, token = answer
    with services.database.transaction() as db:
        return answer_account_choice(db, browser, services.settings.issuer, pairs, choice, token)


def _is_another_user(claims: ClaimsRequest, user: User, signed_in_after: int | None) -> bool:
    """OIDC Core §5.5.1: a `sub` value asked for the id_token names the only user the
    answer may be about. Another user signed in is asked to sign in as that one; if the
    sign-in this request asked for was still another user's, the request is refused."""
    if claims.subject is None or claims.subject == str(user.id):
        return False
    if signed_in_after is not None:
        raise AccessDeniedError("The signed-in user is not the one the request names.")
    return True


def _fresh_enough(
    prompts: frozenset[str],
    max_age: int | None,
    login_session: LoginSession,
    now: datetime,
    signed_in_after: int | None,
) -> bool:
    """Whether the session may answer this request, or the user must sign in again."""
    if signed_in_after is not None:
        # Back from the sign-in this request asked for: only a session begun after it.
        return microseconds(login_session.auth_time) > signed_in_after
    if "login" in prompts:
        return False
    # OIDC Core §3.1.2.1: max_age is the allowed seconds since the user last signed in.
    return max_age is None or now - login_session.auth_time <= timedelta(seconds=max_age)


def _consent_page(
    browser: Browser,
    client: Client,
    user: User,
    login_session: LoginSession,
    pairs: list[tuple[str, str]],
    scopes: frozenset[str],
) -> Response:
    ordered = [s for s in client.scope.split() if s in scopes]
    return render_page(
        "consent.html",
        client_name=client.name,
        username=user.username,
        scopes=[{"name": s, "description": SCOPE_DESCRIPTIONS.get(s)} for s in ordered],
        parameters=pairs,
        csrf_token=csrf_token(browser.csrf_secret, _consent_purpose(login_session, pairs)),
        redirect_host=urlsplit(dict(pairs)["redirect_uri"]).netloc or dict(pairs)["redirect_uri"],
    )


def _consent_purpose(login_session: LoginSession, pairs: list[tuple[str, str]]) -> str:
    """Binds a consent form to this session and exactly these authorization parameters."""
    return f"consent:{login_session.sid}:{parameters_digest(pairs)}"


def _redirect(location: str, issuer: str) -> Response:
    # RFC 9207 §2: every authorization response, errors included, names its issuer.
    return RedirectResponse(
        add_params_to_uri(location, [("iss", issuer)]),
        302,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )

"""/authorize with a pushed request's `request_uri` (RFC 9126 §4), and how the browser
carries "this request was pushed" through the sign-in detour.

The browser brings `client_id` and `request_uri`; any other parameter is ignored. The
request_uri is used up at once (RFC 9126 §4: one-time use; a second /authorize with it,
a reload included, gets an error page) and /authorize goes on with the pushed
parameters and a `pushed_until` marker: a moment, CONTINUATION_TTL on, and a MAC with the
browser's secret over that moment and the parameters (`login.csrf`). The login,
second-factor, account and consent pages carry every parameter back to /authorize, as
for any request, and the marker with them. Valid in this browser only, for exactly these
parameters, until its moment, it is what satisfies AUTHSERVER_REQUIRE_PAR and a client's
`require_par` (RFC 9126 §4, §6) on the way back.

A request_uri that is not one of ours, or is unknown, expired, used, or was pushed by
another client than the `client_id` beside it gets an error page: there is no verified
redirect_uri to send an error to (RFC 6749 §4.1.2.1).
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from starlette.responses import Response

from authserver.clock import utcnow
from authserver.http.account_choice import ACCOUNT_CHOSEN
from authserver.http.browser import Browser
from authserver.http.pages import error_page
from authserver.http.sign_in_first import SIGN_IN_AFTER
from authserver.login.csrf import csrf_token, csrf_token_matches, parameters_digest
from authserver.par.requests import take_request
from authserver.services import Services

REQUEST_URI = "request_uri"
PUSHED_UNTIL = "pushed_until"
# How long the user has, once the browser brought the request_uri, to sign in and consent.
CONTINUATION_TTL = timedelta(minutes=10)
# Set by this server only: never taken from a pushed request.
_MARKERS = frozenset({PUSHED_UNTIL, SIGN_IN_AFTER, ACCOUNT_CHOSEN})
_MOMENT = re.compile(r"[0-9]{1,12}")
_INVALID_LINK = "This sign-in link is not valid"


@dataclass(frozen=True)
class AuthorizationParameters:
    """The parameters /authorize goes on with, and whether they were pushed to /par."""

    pairs: list[tuple[str, str]]
    pushed: bool


def resolve_pushed_request(
    services: Services, browser: Browser, pairs: list[tuple[str, str]]
) -> AuthorizationParameters | Response:
    """With a `request_uri`: the pushed parameters, or an error page. Without: the
    parameters as they are, pushed if they carry this browser's marker for them."""
    now = utcnow()
    if any(name == REQUEST_URI for name, _ in pairs):
        return _take(services, browser, pairs, now)
    return AuthorizationParameters(pairs, _carries_marker(browser, pairs, now))


def _take(
    services: Services, browser: Browser, pairs: list[tuple[str, str]], now: datetime
) -> AuthorizationParameters | Response:
    client_ids = [value for name, value in pairs if name == "client_id"]
    request_uris = [value for name, value in pairs if name == REQUEST_URI]
    if len(client_ids) != 1 or len(request_uris) != 1:
        return error_page(
            _INVALID_LINK, "The request must name exactly one client_id and one request_uri."
        )
    with services.database.transaction() as db:
        pushed = take_request(db, request_uris[0], client_ids[0], now)
    if pushed is None:
        return error_page(
            _INVALID_LINK,
            "This authorization request has expired or was already used. "
            "Go back to the application and try again.",
        )
    kept = [(name, value) for name, value in pushed if name not in _MARKERS]
    until = int((now + CONTINUATION_TTL).timestamp())
    marker = f"{until}.{csrf_token(browser.csrf_secret, _purpose(until, kept))}"
    return AuthorizationParameters([*kept, (PUSHED_UNTIL, marker)], pushed=True)


def _carries_marker(browser: Browser, pairs: list[tuple[str, str]], now: datetime) -> bool:
    markers = [value for name, value in pairs if name == PUSHED_UNTIL]
    if len(markers) != 1:
        return False
    until, _, mac = markers[0].partition(".")
    if not _MOMENT.fullmatch(until) or int(until) <= now.timestamp():
        return False
    kept = [(name, value) for name, value in pairs if name not in _MARKERS]
    return csrf_token_matches(browser.csrf_secret, _purpose(int(until), kept), mac)


def _purpose(until: int, pairs: list[tuple[str, str]]) -> str:
    return f"pushed-until:{until}:{parameters_digest(pairs)}"

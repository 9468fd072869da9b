"""The way from /authorize to the login page and back, with its `sign_in_after` marker.

The way back keeps every parameter and adds `sign_in_after`: the moment of the
redirect, MACed with the browser's secret over the other parameters. With it, only a
session whose `auth_time` is after that moment answers; without it (or with one
tampered, or from another browser), prompt=login and max_age ask again. So opening the
way back directly, on the old session, never gives a code (OIDC Core §3.1.2.1).
"""

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from starlette.responses import Response

from authserver.http.browser import Browser
from authserver.http.login import returning_to
from authserver.http.pages import see_other
from authserver.login.csrf import csrf_token, csrf_token_matches, parameters_digest

SIGN_IN_AFTER = "sign_in_after"
_MOMENT = re.compile(r"[0-9]{1,20}")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def sign_in_first(
    browser: Browser, issuer: str, pairs: list[tuple[str, str]], now: datetime
) -> Response:
    """To the login page, coming back here with every parameter and a `sign_in_after`
    marker: the sign-in about to happen satisfies prompt=login and max_age, and no
    session older than this moment ever will."""
    kept = [(name, value) for name, value in pairs if name != SIGN_IN_AFTER]
    moment = microseconds(now)
    marker = f"{moment}.{csrf_token(browser.csrf_secret, _marker_purpose(moment, kept))}"
    next_path = "/authorize?" + urlencode([*kept, (SIGN_IN_AFTER, marker)])
    return see_other(issuer + returning_to("/login", next_path))


def signed_in_after(browser: Browser, pairs: list[tuple[str, str]]) -> int | None:
    """The moment (µs since the epoch) a sign-in was asked for, if the request carries a
    marker this browser was given for exactly these parameters; else None."""
    markers = [value for name, value in pairs if name == SIGN_IN_AFTER]
    if len(markers) != 1:
        return None
    moment, _, mac = markers[0].partition(".")
    if not _MOMENT.fullmatch(moment):
        return None
    kept = [(name, value) for name, value in pairs if name != SIGN_IN_AFTER]
    if not csrf_token_matches(browser.csrf_secret, _marker_purpose(int(moment), kept), mac):
        return None
    return int(moment)


def microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _marker_purpose(moment: int, pairs: list[tuple[str, str]]) -> str:
    return f"sign-in-after:{moment}:{parameters_digest(pairs)}"

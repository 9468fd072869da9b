"""Second factors over HTTP for tests: enrol TOTP on the account page, compute its codes as
an authenticator app would (RFC 6238), answer the sign-in's second step."""

import html
import re
import time

import pyotp
from httpx import Client, Response

from tests.flows import csrf_token_of, sign_in

_SECRET = re.compile(r"data-totp-secret>([A-Z2-7]+)<")
_RECOVERY_CODE = re.compile(r"<li data-recovery-code>([^<]+)</li>")
STEP = 30


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The app's code for the current 30-second step, or one `steps_ahead` of it."""
    return pyotp.TOTP(secret).at(int(time.time()) + steps_ahead * STEP)


def secret_on(page: str) -> str:
    found = _SECRET.search(page)
    assert found, page[:2000]
    return found.group(1)


def recovery_codes_on(page: str) -> list[str]:
    return [html.unescape(code) for code in _RECOVERY_CODE.findall(page)]


def enrol_totp(http: Client, next_path: str | None = None) -> tuple[str, list[str], Response]:
    """Set up TOTP on the signed-in browser's account page: (secret, recovery codes, the
    confirmation's response). The enrolment uses the current step's code."""
    page = http.get("/account/totp", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text[:500]
    secret = secret_on(page.text)
    form = {"csrf_token": csrf_token_of(page.text), "code": totp_code(secret)}
    if next_path:
        form["next"] = next_path
    confirmed = http.post("/account/totp", data=form)
    assert confirmed.status_code == 200, confirmed.text[:2000]
    return secret, recovery_codes_on(confirmed.text), confirmed


def answer_second_factor(http: Client, code: str, next_path: str = "") -> Response:
    """The second step of a sign-in: GET the form, POST `code`; not followed."""
    page = http.get("/login/second-factor", params={"next": next_path} if next_path else None)
    assert page.status_code == 200, page.text[:500]
    form = {"csrf_token": csrf_token_of(page.text), "code": code}
    if next_path:
        form["next"] = next_path
    return http.post("/login/second-factor", data=form, follow_redirects=False)


def sign_in_with_code(
    http: Client, code: str, username: str = "alice", next_path: str = ""
) -> Response:
    """Password, then `code` at the second step; the final response, not followed."""
    first = sign_in(http, username, next_path=next_path)
    assert first.status_code == 303, first.text[:500]
    assert "/login/second-factor" in first.headers["location"], first.headers["location"]
    return answer_second_factor(http, code, next_path)

"""Tokens for the wrk runs of bench/compare.py: access tokens to introspect, a user's token.

Fetched afresh for every round (our access tokens live 15 minutes), never during a run.
A user's access token comes through the whole authorization code flow with PKCE, as in
tests/flows.py: /authorize, sign in, consent, code, /token.
"""

import base64
import hashlib
import html
import re
import secrets
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
from compare_servers import REDIRECT_URI, Credentials

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
TIMEOUT_SECONDS = 10.0


class TokenError(Exception):
    """A server that did not hand out the token a run needs."""


def client_credentials_tokens(
    token_url: str, client: Credentials, scope: str, resource: str, count: int
) -> list[str]:
    """`count` access tokens of the client_credentials grant (RFC 6749 §4.4) for `resource`."""
    form = {"grant_type": "client_credentials", "scope": scope, "resource": resource}
    headers = {"Authorization": client.authorization}
    with httpx.Client(timeout=TIMEOUT_SECONDS) as http:
        return [
            _access_token(http.post(token_url, data=form, headers=headers)) for _ in range(count)
        ]


def user_access_token(base_url: str, web_app: Credentials, username: str, password: str) -> str:
    """A user's access token with `openid profile`, through the code flow in a fresh browser."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    params = {
        "response_type": "code",
        "client_id": web_app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_SECONDS) as browser:
        answer = browser.get("/authorize", params=params)
        if answer.status_code == 303 and "/login?" in answer.headers["location"]:
            answer = _sign_in(browser, _query(answer)["next"], username, password)
        if answer.status_code == 200 and 'value="approve"' in answer.text:
            answer = browser.post(
                "/authorize", data=_hidden_fields(answer.text) | {"decision": "approve"}
            )
        code = _query(answer).get("code")
        if code is None:
            raise TokenError(f"the code flow gave no code: {answer.headers.get('location')}")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        }
        return _access_token(
            browser.post("/token", data=form, headers={"Authorization": web_app.authorization})
        )


def _sign_in(browser: httpx.Client, next_path: str, username: str, password: str) -> httpx.Response:
    """The login form, then the page it sends the browser back to (the consent page)."""
    page = browser.get("/login", params={"next": next_path})
    form = {
        "csrf_token": _hidden_fields(page.text)["csrf_token"],
        "username": username,
        "password": password,
        "next": next_path,
    }
    signed_in = browser.post("/login", data=form)
    if signed_in.status_code not in (302, 303):
        raise TokenError(f"signing in answered {signed_in.status_code}")
    return browser.get(
        signed_in.headers["location"].removeprefix(str(browser.base_url).rstrip("/"))
    )


def _hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def _query(response: httpx.Response) -> dict[str, str]:
    if response.status_code not in (302, 303):
        raise TokenError(f"expected a redirect, got {response.status_code}: {response.text[:300]}")
    query = parse_qs(urlsplit(response.headers["location"]).query)
    return {name: values[0] for name, values in query.items()}


def _access_token(response: httpx.Response) -> str:
    if response.status_code != 200 or "access_token" not in response.text:
        raise TokenError(
            f"{response.request.url} answered {response.status_code}: {response.text[:300]}"
        )
    return response.json()["access_token"]


def write_tokens(path: Path, tokens: list[str]) -> Path:
    path.write_text("".join(token + "\n" for token in tokens))
    return path

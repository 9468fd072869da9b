"""Tokens for the wrk runs of bench/compare.py: access tokens to introspect, a user's token.

Fetched afresh for every round (our access tokens live 15 minutes), never during a run.
A user's access token comes through the whole authorization code flow with PKCE, as in
tests/flows.py: /authorize, sign in, consent, code, /token; the peer's through its own
(devInteractions: /auth, its login and consent pages, code, /token).
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
_PROMPT = re.compile(r'<input type="hidden" name="prompt" value="(\w+)"')
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
    params = _code_request(web_app, verifier)
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
        return _exchange(browser, web_app, code, verifier)


def _code_request(web_app: Credentials, verifier: str) -> dict[str, str]:
    """An authorization request (RFC 6749 §4.1.1) for `openid profile`, with PKCE (RFC 7636)."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return {
        "response_type": "code",
        "client_id": web_app.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge.rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }


def _exchange(browser: httpx.Client, web_app: Credentials, code: str, verifier: str) -> str:
    """The code for its tokens at /token (RFC 6749 §4.1.3); the access token."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier,
    }
    return _access_token(
        browser.post("/token", data=form, headers={"Authorization": web_app.authorization})
    )


def peer_user_access_token(base_url: str, web_app: Credentials, account: str) -> str:
    """The peer's access token for /userinfo (`openid profile`, no resource: an opaque token
    in its store), through its code flow with PKCE and devInteractions: each interaction
    (login, then consent) is a page whose form posts its `prompt` back to it."""
    verifier = secrets.token_urlsafe(48)
    params = _code_request(web_app, verifier)
    with httpx.Client(base_url=base_url, timeout=TIMEOUT_SECONDS) as browser:
        answer = browser.get("/auth", params=params)
        for _ in range(4):  # login and consent, then the redirect with the code
            redirected = answer.status_code in (302, 303)
            path = _location_path(browser, answer) if redirected else ""
            if not path.startswith("/interaction/"):
                break
            page = browser.get(path)
            prompt = _PROMPT.search(page.text)
            if prompt is None:
                raise TokenError(f"{path} answered {page.status_code}: {page.text[:300]}")
            form = {"prompt": prompt.group(1), "login": account, "password": "any"}
            finished = browser.post(path, data=form)
            answer = browser.get(_location_path(browser, finished))
        code = _query(answer).get("code")
        if code is None:
            raise TokenError(f"the peer's code flow gave no code: {answer.headers.get('location')}")
        return _exchange(browser, web_app, code, verifier)


def _location_path(browser: httpx.Client, response: httpx.Response) -> str:
    if response.status_code not in (302, 303):
        raise TokenError(f"expected a redirect, got {response.status_code}: {response.text[:300]}")
    return response.headers["location"].removeprefix(str(browser.base_url).rstrip("/"))


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
    return browser.get(_location_path(browser, signed_in))


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

"""Browser flows over HTTP for tests: sign in, consent, authorize -> code, code -> tokens.

They take any httpx `Client` with cookies: the app's TestClient, or a client of a real server.
"""

import base64
import hashlib
import html
import math
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from httpx import Client, Response

from tests.factories import SERVICE_AUDIENCE
from tests.factories import WEB_APP_REDIRECT_URI as REDIRECT_URI
from tests.http.tokens import basic

_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


@dataclass(frozen=True)
class Pkce:
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_path(
    client_id: str,
    pkce: Pkce | None = None,
    *,
    redirect_uri: str = REDIRECT_URI,
    scope: str = "openid profile",
    state: str = "state-123",
    **extra: str,
) -> str:
    pkce = pkce or Pkce()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": pkce.challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return "/authorize?" + urlencode({k: v for k, v in params.items() if v is not None})


def hidden_fields(page: str) -> list[tuple[str, str]]:
    return [(name, html.unescape(value)) for name, value in _HIDDEN.findall(page)]


def csrf_token_of(page: str) -> str:
    return dict(hidden_fields(page))["csrf_token"]


def sign_in(
    http: Client, username: str = "alice", password: str = "correct horse", next_path: str = ""
) -> Response:
    """GET the login page, then POST it; the response is not followed."""
    page = http.get("/login", params={"next": next_path} if next_path else None)
    form = {"csrf_token": csrf_token_of(page.text), "username": username, "password": password}
    if next_path:
        form["next"] = next_path
    return http.post("/login", data=form, follow_redirects=False)


def answer_consent(http: Client, consent_page: Response, decision: str = "approve") -> Response:
    fields = dict(hidden_fields(consent_page.text))
    fields["decision"] = decision
    return http.post("/authorize", data=fields, follow_redirects=False)


def enter_user_code(http: Client, user_code: str) -> Response:
    """On the signed-in browser's /device page, type a device's user code (RFC 8628 §3.3)."""
    page = http.get("/device")
    assert page.status_code == 200, page.text
    return http.post(
        "/device", data={"csrf_token": csrf_token_of(page.text), "user_code": user_code}
    )


def answer_device(http: Client, confirm_page: Response, decision: str) -> Response:
    return http.post(
        "/device", data={**dict(hidden_fields(confirm_page.text)), "decision": decision}
    )


def approve_device(http: Client, user_code: str, decision: str = "approve") -> Response:
    confirm = enter_user_code(http, user_code)
    assert 'value="approve"' in confirm.text, confirm.text
    return answer_device(http, confirm, decision)


def query_of(response: Response) -> dict[str, str]:
    assert response.status_code in (302, 303), (response.status_code, response.text[:300])
    location = response.headers["location"]
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def authorize(
    http: Client, client_id: str, pkce: Pkce, *, username: str = "alice", **params: Any
) -> Response:
    """Authorize in this browser, signing in and approving consent if asked."""
    path = authorize_path(client_id, pkce, **params)
    response = http.get(path, follow_redirects=False)
    if response.status_code == 303 and "/login?" in response.headers["location"]:
        signed_in = sign_in(http, username, next_path=path_after_login(response))
        response = http.get(
            signed_in.headers["location"].removeprefix(str(http.base_url).rstrip("/")),
            follow_redirects=False,
        )
    if response.status_code == 200 and 'value="approve"' in response.text:
        response = answer_consent(http, response)
    return response


def path_after_login(login_redirect: Response) -> str:
    return query_of(login_redirect)["next"]


def code_of(http: Client, client_id: str, pkce: Pkce, **params: Any) -> str:
    response = authorize(http, client_id, pkce, **params)
    query = query_of(response)
    assert "code" in query, query
    return query["code"]


def exchange_code(
    http: Client,
    client_id: str,
    secret: str | None,
    code: str,
    verifier: str | None,
    *,
    redirect_uri: str = REDIRECT_URI,
    **extra: str,
) -> Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, **extra}
    if verifier is not None:
        form["code_verifier"] = verifier
    if secret is None:
        return http.post("/token", data={**form, "client_id": client_id})
    return http.post("/token", data=form, headers=basic(client_id, secret))


@dataclass(frozen=True)
class Grant:
    """What one authorization code gave a client: its credentials and the token response."""

    client_id: str
    secret: str | None
    body: dict[str, Any]

    @property
    def access_token(self) -> str:
        return self.body["access_token"]

    @property
    def refresh_token(self) -> str:
        return self.body["refresh_token"]

    @property
    def id_token(self) -> str:
        return self.body["id_token"]

    @property
    def auth(self) -> dict[str, Any]:
        """Client authentication: HTTP Basic, or only client_id for a public client."""
        if self.secret is None:
            return {"data": {"client_id": self.client_id}}
        return {"headers": basic(self.client_id, self.secret)}


def grant_for(
    http: Client, client_id: str, secret: str | None, scope: str = "openid profile"
) -> Grant:
    """Authorize `scope` in this browser (signing in and consenting if asked), redeem the code."""
    pkce = Pkce()
    code = code_of(http, client_id, pkce, scope=scope)
    response = exchange_code(http, client_id, secret, code, pkce.verifier)
    assert response.status_code == 200, response.text
    return Grant(client_id, secret, response.json())


def code_flow_tokens(
    base_url: str,
    client_id: str,
    secret: str | None,
    *,
    scope: str,
    resource: str,
    username: str = "alice",
) -> dict[str, Any]:
    """A user's tokens from a real server through the whole code flow, for `resource`."""
    pkce = Pkce()
    with Client(base_url=base_url, timeout=5.0) as browser:
        code = code_of(browser, client_id, pkce, scope=scope, username=username)
        response = exchange_code(browser, client_id, secret, code, pkce.verifier, resource=resource)
    assert response.status_code == 200, response.text
    return response.json()


def service_token(
    base_url: str, credentials: tuple[str, str], resource: str = SERVICE_AUDIENCE
) -> str:
    """A client_credentials access token for `resource` from a real server."""
    data = {"grant_type": "client_credentials", "resource": resource}
    response = httpx.post(f"{base_url}/token", data=data, auth=credentials)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def extra_attempts_within(seconds: float) -> int:
    """Attempts past the free ones the throttle lets through within `seconds`: the k-th
    waits 2^(k-1) s after the one before (login/throttle.py), so k fit once 2^k - 1 <= s."""
    return int(math.log2(seconds + 1))


def redirect_status(response: Response) -> int:
    """The status of an authorization response: 302 to a GET, 303 to a form POST (RFC 9700
    §4.12, FAPI 2.0 §5.3.2.2 item 11: the browser must not POST the form again)."""
    return 303 if response.request.method == "POST" else 302

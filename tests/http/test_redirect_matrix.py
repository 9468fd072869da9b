"""The redirect-URI matrix at /authorize and at registration (RFC 9700 §2.1, §4.1.3).

SECURITY-CHECKLIST "Tests that must exist" 3 and its "/authorize, /login, consent" line: a
redirect_uri is the registered string byte for byte, without normalization or pattern
(loopback IP URIs may vary the port only, RFC 8252 §7.3); a missing, duplicated or
mismatched one gets an HTML error page and never a redirect (RFC 6749 §3.1.2.4, §4.1.2.1).
Registration refuses userinfo, fragments, `javascript:`/`data:` in any case, http off
loopback, dot segments and `;`.

Every case at /authorize is one request, and the redirect_uri is checked before storage is
touched, so the module builds one server for all of them: its own migrated SQLite database,
the web app of `tests.factories.make_web_app`, loopback apps, and a browser signed in as
alice that has approved each of them. Every refusal is paired with the same request naming
the registered URI, which gets a code: the redirect_uri is the only difference.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from authserver.app import create_app
from authserver.cli import app as cli
from authserver.clients.registration import ClientSpec, RegistrationError, validate
from tests.conftest import ISSUER, copy_of_template_keys, make_settings, migrated_sqlite
from tests.factories import WEB_APP_REDIRECT_URI, make_user, make_web_app
from tests.flows import (
    Pkce,
    code_of,
    exchange_code,
    hidden_fields,
    query_of,
    redirect_status,
)
from tests.http.pages import assert_page_headers

LOOPBACK_URI = "http://127.0.0.1:8080/cb"
LOOPBACK_V6_URI = "http://[::1]:8080/cb"

EXACT = "RFC 9700 §2.1, §4.1.3: exact string comparison"
FRAGMENT = "RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment"
NO_NORMALIZING = "RFC 9700 §2.1: exact string comparison, no normalization"
USERINFO = "RFC 9700 §4.1.1, RFC 3986 §3.2.1: userinfo confuses the host"
DOT_SEGMENTS = "RFC 9700 §4.1.1 path confusion, RFC 3986 §5.2.4 dot segments"
SCHEME = "RFC 9700 §4.1.3; SECURITY-CHECKLIST: javascript:/data: in any case"
LOCALHOST = "RFC 8252 §8.3: localhost is a name, not the loopback interface"
LOOPBACK = "RFC 8252 §7.3: a loopback IP redirect URI may vary in its port only"
CONTROL = "RFC 9700 §2.1 exact comparison; a browser strips or splits on these characters"
HOMOGRAPH = "RFC 9700 §2.1 exact comparison; UTS #39 confusable characters"
MALFORMED = "RFC 6749 §3.1.2: an absolute URI (RFC 3986 §4.3); RFC 9700 §2.1"


@dataclass(frozen=True)
class Case:
    redirect_uri: str
    clause: str


# Each a redirect_uri other than the web app's registered https://app.example.test/callback.
MISMATCHED = {
    "trailing-slash": Case("https://app.example.test/callback/", EXACT),
    "added-query": Case("https://app.example.test/callback?next=https://evil.test", EXACT),
    "empty-query": Case("https://app.example.test/callback?", EXACT),
    "fragment": Case("https://app.example.test/callback#evil", FRAGMENT),
    "empty-fragment": Case("https://app.example.test/callback#", FRAGMENT),
    "upper-case-scheme": Case("HTTPS://app.example.test/callback", NO_NORMALIZING),
    "upper-case-host": Case("https://APP.example.test/callback", NO_NORMALIZING),
    "upper-case-path": Case("https://app.example.test/Callback", NO_NORMALIZING),
    "path-prefix": Case("https://app.example.test/call", EXACT),
    "parent-path": Case("https://app.example.test/", EXACT),
    "path-suffix": Case("https://app.example.test/callback/evil", EXACT),
    "path-suffix-without-slash": Case("https://app.example.test/callbackevil", EXACT),
    "host-suffix": Case("https://app.example.test.evil.test/callback", EXACT),
    "subdomain": Case("https://evil.app.example.test/callback", EXACT),
    "host-prefix": Case("https://evilapp.example.test/callback", EXACT),
    "userinfo-naming-the-host": Case("https://app.example.test@evil.test/callback", USERINFO),
    "userinfo-before-the-host": Case("https://evil.test@app.example.test/callback", USERINFO),
    "userinfo-with-password": Case("https://user:secret@app.example.test/callback", USERINFO),
    "multiple-at": Case("https://app.example.test@evil.test@app.example.test/callback", USERINFO),
    "percent-encoded-at": Case("https://app.example.test%40evil.test/callback", USERINFO),
    "dot-dot-semicolon-out": Case("https://app.example.test/callback/..;/evil", DOT_SEGMENTS),
    "dot-dot-semicolon-in": Case("https://app.example.test/evil/..;/callback", DOT_SEGMENTS),
    "semicolon-parameter": Case("https://app.example.test/callback;jsessionid=x", DOT_SEGMENTS),
    "dot-dot": Case("https://app.example.test/evil/../callback", DOT_SEGMENTS),
    "dot": Case("https://app.example.test/./callback", DOT_SEGMENTS),
    "percent-encoded-dot-dot": Case("https://app.example.test/evil/%2e%2e/callback", DOT_SEGMENTS),
    "percent-encoded-path": Case("https://app.example.test/%63allback", NO_NORMALIZING),
    "percent-encoded-host": Case("https://app%2Eexample.test/callback", NO_NORMALIZING),
    "percent-encoded-slash": Case("https://app.example.test%2Fcallback", NO_NORMALIZING),
    "percent-encoded-twice": Case("https%3A%2F%2Fapp.example.test%2Fcallback", NO_NORMALIZING),
    "default-port-443": Case("https://app.example.test:443/callback", NO_NORMALIZING),
    "empty-port": Case("https://app.example.test:/callback", NO_NORMALIZING),
    "other-port": Case("https://app.example.test:8443/callback", LOOPBACK),
    "http": Case("http://app.example.test/callback", EXACT),
    "loopback-http": Case("http://127.0.0.1/callback", LOOPBACK),
    "javascript": Case(
        "javascript:alert(document.domain)//https://app.example.test/callback", SCHEME
    ),
    "javascript-mixed-case": Case("JaVaScRiPt:alert(1)//https://app.example.test/callback", SCHEME),
    "data": Case("data:text/html,<script>alert(1)</script>", SCHEME),
    "data-upper-case": Case("DATA:text/html;base64,PHNjcmlwdD4=", SCHEME),
    "vbscript": Case("vbscript:msgbox(1)", SCHEME),
    "localhost-evil-https": Case("https://localhost.evil.test/callback", LOCALHOST),
    "localhost-evil-http": Case("http://localhost.evil.test/callback", LOCALHOST),
    "homograph-cyrillic-a": Case("https://\u0430pp.example.test/callback", HOMOGRAPH),
    "homograph-punycode": Case("https://xn--pp-6kc.example.test/callback", HOMOGRAPH),
    "fullwidth-full-stop": Case("https://app\uff0eexample.test/callback", HOMOGRAPH),
    "cr-lf": Case("https://app.example.test/callback\r\nSet-Cookie: x=1", CONTROL),
    "percent-encoded-cr-lf": Case("https://app.example.test/callback%0d%0aSet-Cookie:x", CONTROL),
    "tab-in-path": Case("https://app.example.test/call\tback", CONTROL),
    "nul": Case("https://app.example.test/callback\x00", CONTROL),
    "leading-space": Case(" https://app.example.test/callback", CONTROL),
    "trailing-space": Case("https://app.example.test/callback ", CONTROL),
    "backslash-userinfo": Case("https://app.example.test\\@evil.test/callback", USERINFO),
    "backslash-for-slash": Case("https://app.example.test\\callback", NO_NORMALIZING),
    "scheme-relative": Case("//app.example.test/callback", MALFORMED),
    "relative": Case("/callback", MALFORMED),
    "scheme-without-slashes": Case("https:app.example.test/callback", MALFORMED),
    "wildcard": Case("https://*.example.test/callback", EXACT),
    "another-clients-uri": Case(LOOPBACK_URI, EXACT),
}

# Each a redirect_uri other than the loopback app's http://127.0.0.1:8080/cb in more than
# its port: refused today and after RFC 8252 §7.3 is followed.
LOOPBACK_MISMATCHED = {
    "other-path": Case("http://127.0.0.1:8080/cb2", LOOPBACK),
    "other-path-and-port": Case("http://127.0.0.1:9999/cb2", LOOPBACK),
    "path-prefix": Case("http://127.0.0.1:8080/c", LOOPBACK),
    "trailing-slash": Case("http://127.0.0.1:8080/cb/", LOOPBACK),
    "added-query": Case("http://127.0.0.1:8080/cb?x=1", LOOPBACK),
    "added-query-and-port": Case("http://127.0.0.1:9999/cb?x=1", LOOPBACK),
    "fragment": Case("http://127.0.0.1:9999/cb#x", FRAGMENT),
    "https": Case("https://127.0.0.1:8080/cb", LOOPBACK),
    "localhost": Case("http://localhost:8080/cb", LOCALHOST),
    "other-loopback-address": Case("http://127.0.0.2:8080/cb", LOOPBACK),
    "ipv6-loopback": Case("http://[::1]:8080/cb", LOOPBACK),
    "decimal-address": Case("http://2130706433:8080/cb", LOOPBACK),
    "localhost-evil": Case("http://localhost.evil.test:8080/cb", LOCALHOST),
    "loopback-address-as-label": Case("http://127.0.0.1.evil.test:8080/cb", LOOPBACK),
    "userinfo": Case("http://127.0.0.1:8080@evil.test/cb", USERINFO),
}

# (registered, asked): RFC 8252 §7.3 "MUST allow any port to be specified at the time of
# the request for loopback IP redirect URIs"; the checklist agrees.
LOOPBACK_OTHER_PORTS = {
    "ipv4": (LOOPBACK_URI, "http://127.0.0.1:51234/cb"),
    "ipv6": (LOOPBACK_V6_URI, "http://[::1]:51234/cb"),
}


@dataclass(frozen=True)
class Server:
    """One app and a browser signed in as alice that approved every client below."""

    http: TestClient
    secrets: dict[str, str]  # client_id -> client_secret
    registered: dict[str, str]  # client_id -> its one redirect URI
    web_app: str
    loopback: str  # registered LOOPBACK_URI

    def client_for(self, redirect_uri: str) -> str:
        return next(c for c, uri in self.registered.items() if uri == redirect_uri)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("redirect-matrix")
    database = migrated_sqlite(directory)
    keys_dir = copy_of_template_keys(template_keys_dir, directory)
    make_user(database)
    registered, secrets = {}, {}
    for uri in (WEB_APP_REDIRECT_URI, LOOPBACK_URI, LOOPBACK_V6_URI):
        client, secret = make_web_app(database, redirect_uris=[uri])
        assert secret is not None
        registered[client.client_id], secrets[client.client_id] = uri, secret
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0)
    try:
        with TestClient(create_app(settings), base_url=ISSUER) as http:
            for client_id, uri in registered.items():
                code_of(http, client_id, Pkce(), redirect_uri=uri)  # signs in, consents
            by_uri = {uri: client_id for client_id, uri in registered.items()}
            yield Server(
                http, secrets, registered, by_uri[WEB_APP_REDIRECT_URI], by_uri[LOOPBACK_URI]
            )
    finally:
        database.dispose()


def authorize_query(
    client_id: str, redirect_uris: list[str], pkce: Pkce | None = None, **extra: str
) -> str:
    """/authorize with a valid request's parameters and these redirect_uri values."""
    pairs = [
        ("response_type", "code"),
        ("client_id", client_id),
        *(("redirect_uri", uri) for uri in redirect_uris),
        ("scope", "openid profile"),
        ("state", "state-123"),
        ("code_challenge", (pkce or Pkce()).challenge),
        ("code_challenge_method", "S256"),
        *extra.items(),
    ]
    return "/authorize?" + urlencode(pairs)


def authorize(server: Server, client_id: str, redirect_uris: list[str]) -> Response:
    return server.http.get(authorize_query(client_id, redirect_uris), follow_redirects=False)


def assert_error_page(response: Response, clause: str) -> None:
    """RFC 6749 §3.1.2.4, §4.1.2.1: tell the resource owner, MUST NOT redirect."""
    assert response.status_code == 400, (clause, response.status_code, response.headers)
    assert response.headers["content-type"].startswith("text/html"), clause
    assert "location" not in response.headers, clause
    assert "code=" not in response.text, clause
    assert_page_headers(response)


def assert_code_at(response: Response, redirect_uri: str) -> str:
    """A code at exactly `redirect_uri`, with `state` and `iss` (RFC 6749 §4.1.2, RFC 9207)."""
    expected = redirect_status(response)
    assert response.status_code == expected, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    query = query_of(response)
    assert query["state"] == "state-123" and query["iss"] == ISSUER, query
    assert "error" not in query, query
    return query["code"]


# --- /authorize: the registered string, byte for byte ----------------------------------


@pytest.mark.parametrize("case", MISMATCHED.values(), ids=MISMATCHED.keys())
def test_a_redirect_uri_other_than_the_registered_string_gets_an_error_page(
    server: Server, case: Case
) -> None:
    assert_code_at(authorize(server, server.web_app, [WEB_APP_REDIRECT_URI]), WEB_APP_REDIRECT_URI)
    assert_error_page(authorize(server, server.web_app, [case.redirect_uri]), case.clause)


@pytest.mark.parametrize(
    "redirect_uris",
    [
        [WEB_APP_REDIRECT_URI, WEB_APP_REDIRECT_URI],
        [WEB_APP_REDIRECT_URI, "https://evil.test/callback"],
        ["https://evil.test/callback", WEB_APP_REDIRECT_URI],
    ],
    ids=["same-twice", "registered-then-other", "other-then-registered"],
)
def test_a_duplicated_redirect_uri_gets_an_error_page(
    server: Server, redirect_uris: list[str]
) -> None:
    # RFC 6749 §3.1: parameters MUST NOT be repeated, so which one to verify is unknown.
    assert_error_page(authorize(server, server.web_app, redirect_uris), "RFC 6749 §3.1")


@pytest.mark.parametrize("redirect_uris", [[], [""]], ids=["missing", "empty"])
def test_a_missing_redirect_uri_gets_an_error_page(
    server: Server, redirect_uris: list[str]
) -> None:
    # RFC 9700 §2.1 (no default redirect URI), OIDC Core §3.1.2.1 (REQUIRED); RFC 6749
    # §3.1: a parameter without a value is omitted.
    assert_error_page(authorize(server, server.web_app, redirect_uris), "RFC 9700 §2.1")


def test_the_registered_redirect_uri_of_an_unknown_client_gets_an_error_page(
    server: Server,
) -> None:
    # RFC 6749 §4.1.2.1: an invalid client_id MUST NOT redirect either.
    response = authorize(server, "no-such-client", [WEB_APP_REDIRECT_URI])
    assert_error_page(response, "RFC 6749 §4.1.2.1")


def test_a_consent_answer_with_another_redirect_uri_gets_an_error_page(server: Server) -> None:
    """The consent form's POST carries the authorization parameters back: its redirect_uri
    is verified again, before the CSRF token or the decision (RFC 6749 §4.1.2.1)."""
    path = authorize_query(server.web_app, [WEB_APP_REDIRECT_URI], prompt="consent")
    fields = dict(hidden_fields(server.http.get(path).text))
    fields["decision"] = "approve"
    tampered = {**fields, "redirect_uri": "https://app.example.test.evil.test/callback"}
    refused = server.http.post("/authorize", data=tampered, follow_redirects=False)
    assert_error_page(refused, "RFC 9700 §2.1")
    approved = server.http.post("/authorize", data=fields, follow_redirects=False)
    assert_code_at(approved, WEB_APP_REDIRECT_URI)


# --- loopback IP redirect URIs (RFC 8252 §7.3) -----------------------------------------


@pytest.mark.parametrize("case", LOOPBACK_MISMATCHED.values(), ids=LOOPBACK_MISMATCHED.keys())
def test_a_loopback_redirect_uri_differing_in_more_than_the_port_gets_an_error_page(
    server: Server, case: Case
) -> None:
    assert_code_at(authorize(server, server.loopback, [LOOPBACK_URI]), LOOPBACK_URI)
    assert_error_page(authorize(server, server.loopback, [case.redirect_uri]), case.clause)


@pytest.mark.parametrize(
    ("registered", "asked"), LOOPBACK_OTHER_PORTS.values(), ids=LOOPBACK_OTHER_PORTS.keys()
)
def test_a_loopback_ip_redirect_uri_may_name_any_port(
    server: Server, registered: str, asked: str
) -> None:
    """RFC 8252 §7.3, RFC 9700 §2.1; SECURITY-CHECKLIST: "loopback IP URIs may vary the port
    only". The code goes to the port asked for, and /token wants that same redirect_uri
    (RFC 6749 §4.1.3)."""
    client_id = server.client_for(registered)
    pkce = Pkce()
    response = server.http.get(authorize_query(client_id, [asked], pkce), follow_redirects=False)
    code = assert_code_at(response, asked)
    secret = server.secrets[client_id]
    tokens = exchange_code(server.http, client_id, secret, code, pkce.verifier, redirect_uri=asked)
    assert tokens.status_code == 200, tokens.text


# --- registration: what `authserver clients create --redirect-uri` refuses -------------

REFUSED_AT_REGISTRATION = {
    "userinfo": Case("https://user@app.example.test/cb", USERINFO),
    "userinfo-with-password": Case("https://user:secret@app.example.test/cb", USERINFO),
    "multiple-at": Case("https://app.example.test@evil.test@app.example.test/cb", USERINFO),
    "backslash-userinfo": Case("https://app.example.test\\@evil.test/cb", USERINFO),
    "fragment": Case("https://app.example.test/cb#x", FRAGMENT),
    "empty-fragment": Case("https://app.example.test/cb#", FRAGMENT),
    "javascript": Case("javascript:alert(1)", SCHEME),
    "javascript-upper-case": Case("JAVASCRIPT:alert(1)", SCHEME),
    "javascript-mixed-case": Case("JaVaScRiPt://app.example.test/%0aalert(1)", SCHEME),
    "data": Case("data:text/html,<script>alert(1)</script>", SCHEME),
    "data-upper-case": Case("DATA:text/html;base64,PHNjcmlwdD4=", SCHEME),
    "vbscript": Case("vbscript:msgbox(1)", SCHEME),
    "file": Case("file:///etc/passwd", SCHEME),
    "http-off-loopback": Case("http://app.example.test/cb", "RFC 6749 §3.1.2.1; RFC 8252 §8.3"),
    "http-localhost": Case("http://localhost:8080/cb", LOCALHOST),
    "http-localhost-evil": Case("http://localhost.evil.test/cb", LOCALHOST),
    "http-loopback-address-as-label": Case("http://127.0.0.1.evil.test/cb", LOOPBACK),
    "http-hexadecimal-loopback": Case("http://0x7f000001/cb", LOOPBACK),
    "http-short-loopback": Case("http://127.1/cb", LOOPBACK),
    "dot-dot": Case("https://app.example.test/a/../cb", DOT_SEGMENTS),
    "dot": Case("https://app.example.test/./cb", DOT_SEGMENTS),
    "trailing-dot-dot": Case("https://app.example.test/cb/..", DOT_SEGMENTS),
    "trailing-dot": Case("https://app.example.test/cb/.", DOT_SEGMENTS),
    "dot-dot-semicolon": Case("https://app.example.test/a/..;/cb", DOT_SEGMENTS),
    "semicolon": Case("https://app.example.test/cb;jsessionid=x", DOT_SEGMENTS),
    "wildcard": Case("https://*.example.test/cb", EXACT),
    "relative": Case("/cb", MALFORMED),
    "scheme-relative": Case("//app.example.test/cb", MALFORMED),
    "no-host": Case("https:///cb", MALFORMED),
    "cr-lf": Case("https://app.example.test/cb\r\nX: y", CONTROL),
    "space": Case("https://app.example.test/c b", CONTROL),
    "nul": Case("https://app.example.test/cb\x00", CONTROL),
    "homograph": Case("https://\u0430pp.example.test/cb", HOMOGRAPH),
    "private-use-scheme-without-a-dot": Case("myapp:/cb", "RFC 8252 §7.1: reversed domain name"),
    "longer-than-2000": Case("https://app.example.test/" + "a" * 2000, "SECURITY-CHECKLIST"),
    "unbalanced-bracket": Case("https://[app.example.test/cb", MALFORMED),
    # RFC 3986 §6.2.2.2: %2e%2e is `..`, to browsers as well.
    "percent-encoded-dot-dot": Case("https://app.example.test/a/%2e%2e/cb", DOT_SEGMENTS),
    # Not a URI character (RFC 3986 §2); a browser reads it as `/`: this leads to evil.test.
    "backslash-in-host": Case("https://evil.test\\.app.example.test/cb", MALFORMED),
    "private-use-rootless-dot-dot": Case("com.example.app:../oauth2redirect", DOT_SEGMENTS),
    # RFC 3986 §3.2.3: a port is digits.
    "non-numeric-port": Case("https://app.example.test:x/cb", MALFORMED),
}

ACCEPTED_AT_REGISTRATION = {
    "https": WEB_APP_REDIRECT_URI,
    "https-with-query": "https://app.example.test/cb?tenant=a",
    "loopback-ipv4": LOOPBACK_URI,
    "loopback-ipv6": LOOPBACK_V6_URI,
    "loopback-without-port": "http://127.0.0.1/cb",
    "private-use-scheme": "com.example.app:/oauth2redirect",
}

OPTIONS = ["--redirect-uri", "--post-logout-redirect-uri"]


def web_app_spec(option: str, uri: str) -> ClientSpec:
    if option == "--redirect-uri":
        return ClientSpec(name="App", grant_types=["authorization_code"], redirect_uris=[uri])
    return ClientSpec(
        name="App",
        grant_types=["authorization_code"],
        redirect_uris=[WEB_APP_REDIRECT_URI],
        post_logout_redirect_uris=[uri],
    )


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize(
    "case", REFUSED_AT_REGISTRATION.values(), ids=REFUSED_AT_REGISTRATION.keys()
)
def test_registration_refuses_a_redirect_uri_the_checklist_forbids(option: str, case: Case) -> None:
    """`validate` is what `authserver clients create` runs before opening the database."""
    with pytest.raises(RegistrationError) as refused:
        validate(web_app_spec(option, case.redirect_uri))
    assert refused.value.field == option, case.clause


@pytest.mark.parametrize("option", OPTIONS)
@pytest.mark.parametrize(
    "redirect_uri", ACCEPTED_AT_REGISTRATION.values(), ids=ACCEPTED_AT_REGISTRATION.keys()
)
def test_registration_accepts_https_loopback_and_private_use_redirect_uris(
    option: str, redirect_uri: str
) -> None:
    # RFC 8252 §7.1 (private-use scheme), §7.3 (loopback IP literal, http); RFC 6749 §3.1.2
    # (a query is allowed and must then be sent byte for byte).
    validate(web_app_spec(option, redirect_uri))


@pytest.mark.parametrize(
    "redirect_uri",
    ["JAVASCRIPT:alert(1)", "https://user@app.example.test/cb", "http://app.example.test/cb",
     "https://app.example.test/a/..;/cb"],
    ids=["javascript", "userinfo", "http-off-loopback", "dot-dot-semicolon"],
)  # fmt: skip
def test_clients_create_refuses_a_forbidden_redirect_uri_as_a_usage_error(
    redirect_uri: str,
) -> None:
    """The command line, in process: exit 2 naming the option, before any database work."""
    arguments = ["clients", "create", "--name", "App", "--grant-type", "authorization_code"]
    result = CliRunner().invoke(cli, [*arguments, "--redirect-uri", redirect_uri])
    assert result.exit_code == 2, (result.exit_code, result.exception, result.output)
    assert "--redirect-uri" in result.output

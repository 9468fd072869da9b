"""Native apps (RFC 8252): public clients with PKCE, private-use URI scheme redirects (§7.1),
loopback IP redirects in any port (§7.3), and no `localhost` (§8.3).

tests/http/test_redirect_matrix.py already covers an IPv4 and an IPv6 loopback URI
registered with a port and asked for with another, IPv4 path/query/host differences, and
the registration matrix; here is what it does not: the whole flow of a public app on a
private-use scheme, an IPv6 loopback URI registered without a port, IPv6 differences
other than the port, `/token` holding the app to the port it asked for, and the
message that refuses `localhost`.
"""

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from typer.testing import CliRunner

from authserver.cli import app as cli
from authserver.clients.registration import ClientSpec, RegistrationError, validate
from authserver.db import Database
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_web_app
from tests.flows import (
    Pkce,
    answer_consent,
    authorize,
    authorize_path,
    exchange_code,
    path_after_login,
    query_of,
    redirect_status,
    sign_in,
)
from tests.http.pages import assert_page_headers
from tests.http.tokens import assert_oauth_error, verified_id_token

PRIVATE_USE_URI = "com.example.app:/cb"
IPV6_NO_PORT_URI = "http://[::1]/cb"
IPV6_PORT_URI = "http://[::1]:8080/cb"
PRIVATE_USE = "RFC 8252 §7.1: a private-use URI scheme redirect"
LOOPBACK = "RFC 8252 §7.3: a loopback IP redirect URI may vary in its port only"
LOCALHOST = "RFC 8252 §8.3: localhost is NOT RECOMMENDED; refused here"


def native_app(database: Database, redirect_uri: str) -> str:
    """A public client (RFC 8252 §8.4: no secret) with this one redirect URI."""
    client, secret = make_web_app(
        database, name="Native App", public=True, redirect_uris=[redirect_uri]
    )
    assert secret is None
    return client.client_id


def assert_code_at(response: Response, redirect_uri: str) -> str:
    """The code at exactly `redirect_uri` (the Location header), with `state` and `iss`."""
    expected = redirect_status(response)
    assert response.status_code == expected, (response.status_code, response.text[:300])
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?"), location
    query = query_of(response)
    assert "error" not in query, query
    assert query["state"] == "state-123" and query["iss"] == ISSUER
    return query["code"]


def assert_error_page(response: Response) -> None:
    """RFC 6749 §4.1.2.1: an unregistered redirect_uri gets a page, never a redirect."""
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "location" not in response.headers
    assert_page_headers(response)


# --- a private-use URI scheme (RFC 8252 §7.1) ----------------------------------------------


def test_a_public_app_on_a_private_use_scheme_gets_its_code_there_and_redeems_it_with_pkce(
    http: TestClient, database: Database, user: User
) -> None:
    """RFC 8252 §7.1, §8.1 (PKCE), §8.4 (no client secret); RFC 7636 §4.5-§4.6."""
    client_id = native_app(database, PRIVATE_USE_URI)
    pkce = Pkce()
    response = authorize(http, client_id, pkce, redirect_uri=PRIVATE_USE_URI)
    code = assert_code_at(response, PRIVATE_USE_URI)
    assert response.headers["location"].startswith("com.example.app:/cb?code="), PRIVATE_USE

    tokens = exchange_code(http, client_id, None, code, pkce.verifier, redirect_uri=PRIVATE_USE_URI)
    assert tokens.status_code == 200, tokens.text
    body = tokens.json()
    assert body["token_type"] == "Bearer" and body["refresh_token"]
    assert verified_id_token(http, body["id_token"], client_id)["sub"] == str(user.id)


def test_a_public_app_cannot_redeem_its_code_without_the_verifier(
    http: TestClient, database: Database, user: User
) -> None:
    """RFC 8252 §8.1: PKCE is what stops another app that intercepted the redirect
    (§8.6) from using the code; RFC 7636 §4.6: a wrong verifier is invalid_grant."""
    client_id = native_app(database, PRIVATE_USE_URI)
    code = assert_code_at(
        authorize(http, client_id, Pkce(), redirect_uri=PRIVATE_USE_URI), PRIVATE_USE_URI
    )
    stolen = exchange_code(
        http, client_id, None, code, Pkce().verifier, redirect_uri=PRIVATE_USE_URI
    )
    assert_oauth_error(stolen, 400, "invalid_grant")


def test_an_error_goes_back_to_the_private_use_uri(
    http: TestClient, database: Database, user: User
) -> None:
    """RFC 6749 §4.1.2.1: once the redirect_uri is verified, errors go there too."""
    client_id = native_app(database, PRIVATE_USE_URI)
    path = authorize_path(client_id, redirect_uri=PRIVATE_USE_URI)
    login = http.get(path, follow_redirects=False)
    assert sign_in(http, next_path=path_after_login(login)).status_code == 303
    denied = answer_consent(http, http.get(path, follow_redirects=False), "deny")
    assert denied.headers["location"].startswith(PRIVATE_USE_URI + "?error=access_denied")
    assert query_of(denied)["state"] == "state-123"


@pytest.mark.parametrize(
    "redirect_uri",
    ["com.example.evil:/cb", "com.example.app:/cb2", "com.example.app://cb", "COM.EXAMPLE.APP:/cb"],
    ids=["other-scheme", "other-path", "authority-form", "upper-case-scheme"],
)
def test_another_private_use_uri_gets_an_error_page(
    http: TestClient, database: Database, user: User, redirect_uri: str
) -> None:
    """RFC 9700 §2.1: the registered string exactly; a private-use URI has no port to vary."""
    client_id = native_app(database, PRIVATE_USE_URI)
    path = authorize_path(client_id, redirect_uri=redirect_uri)
    assert_error_page(http.get(path, follow_redirects=False))


# --- loopback IP redirects (RFC 8252 §7.3) -------------------------------------------------


@pytest.mark.parametrize(
    "asked",
    [IPV6_NO_PORT_URI, "http://[::1]:1/cb", "http://[::1]:49152/cb", "http://[::1]:65535/cb"],
    ids=["no-port", "port-1", "ephemeral-port", "port-65535"],
)
def test_an_ipv6_loopback_uri_registered_without_a_port_accepts_any_port(
    http: TestClient, database: Database, user: User, asked: str
) -> None:
    """RFC 8252 §7.3: "MUST allow any port to be specified at the time of the request for
    loopback IP redirect URIs"; the app binds [::1] on whatever port it gets."""
    client_id = native_app(database, IPV6_NO_PORT_URI)
    pkce = Pkce()
    code = assert_code_at(authorize(http, client_id, pkce, redirect_uri=asked), asked)
    tokens = exchange_code(http, client_id, None, code, pkce.verifier, redirect_uri=asked)
    assert tokens.status_code == 200, tokens.text


IPV6_MISMATCHED = {
    "other-path": "http://[::1]:9999/cb2",
    "trailing-slash": "http://[::1]:9999/cb/",
    "added-query": "http://[::1]:9999/cb?x=1",
    "ipv4-host": "http://127.0.0.1:8080/cb",
    "expanded-ipv6": "http://[0:0:0:0:0:0:0:1]:8080/cb",
    "ipv4-mapped": "http://[::ffff:127.0.0.1]:8080/cb",
    "localhost": "http://localhost:8080/cb",
    "https": "https://[::1]:8080/cb",
    "port-out-of-range": "http://[::1]:65536/cb",
    "zone-id": "http://[::1%25lo]:8080/cb",
}


@pytest.mark.parametrize("registered", [IPV6_PORT_URI, IPV6_NO_PORT_URI], ids=["port", "no-port"])
@pytest.mark.parametrize("asked", IPV6_MISMATCHED.values(), ids=IPV6_MISMATCHED.keys())
def test_an_ipv6_loopback_uri_differing_in_more_than_the_port_gets_an_error_page(
    http: TestClient, database: Database, user: User, registered: str, asked: str
) -> None:
    """RFC 8252 §7.3 relaxes the port only; RFC 9700 §2.1: everything else byte for byte."""
    client_id = native_app(database, registered)
    assert_code_at(
        authorize(http, client_id, Pkce(), redirect_uri="http://[::1]:9999/cb"),
        "http://[::1]:9999/cb",
    )
    path = authorize_path(client_id, redirect_uri=asked)
    assert_error_page(http.get(path, follow_redirects=False))


def test_the_token_request_must_name_the_port_the_authorization_request_named(
    http: TestClient, database: Database, user: User
) -> None:
    """RFC 6749 §4.1.3: "identical" redirect_uri values; any port at /authorize does not
    mean any port at /token (RFC 8252 §7.3 is about the authorization request)."""
    client_id = native_app(database, "http://127.0.0.1/cb")
    pkce = Pkce()
    asked = "http://127.0.0.1:51000/cb"
    code = assert_code_at(authorize(http, client_id, pkce, redirect_uri=asked), asked)
    for other in ("http://127.0.0.1:51001/cb", "http://127.0.0.1/cb"):
        refused = exchange_code(http, client_id, None, code, pkce.verifier, redirect_uri=other)
        assert_oauth_error(refused, 400, "invalid_grant")


# --- localhost refused at registration (RFC 8252 §8.3) -------------------------------------

LOCALHOST_URIS = ["http://localhost/cb", "http://localhost:8080/cb", "http://LOCALHOST:8080/cb"]


@pytest.mark.parametrize("uri", LOCALHOST_URIS)
def test_registration_refuses_localhost_with_a_message_naming_the_loopback_literals(
    uri: str,
) -> None:
    """RFC 8252 §8.3: loopback redirects SHOULD use the IP literal, localhost is NOT
    RECOMMENDED (it may resolve elsewhere); docs/login-and-sso.md says it is refused."""
    spec = ClientSpec(name="App", grant_types=["authorization_code"], redirect_uris=[uri])
    with pytest.raises(RegistrationError) as refused:
        validate(spec)
    assert refused.value.field == "--redirect-uri"
    assert str(refused.value) == f"{uri!r} http is allowed only on 127.0.0.1 or [::1]", LOCALHOST


def test_clients_create_refuses_localhost_as_a_usage_error_with_that_message() -> None:
    """CONTRACT.md: exit 2 on a usage error, with a message naming the option."""
    arguments = ["clients", "create", "--name", "App", "--public", "--grant-type"]
    result = CliRunner().invoke(
        cli, [*arguments, "authorization_code", "--redirect-uri", "http://localhost:8080/cb"]
    )
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert "--redirect-uri" in result.output
    assert "127.0.0.1 or [::1]" in result.output, LOCALHOST

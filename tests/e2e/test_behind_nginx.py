"""Behind nginx with TLS, configured from deploy/nginx/ (docs/deployment.md): https in
discovery, Secure `__Host-` cookies, X-Forwarded-For overwritten at the edge and believed
only from the proxy, and one request id from nginx to the server's log."""

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_for_a_test
from tests.e2e.nginx import (
    NGINX,
    access_log_entry,
    log_entry,
    make_certificate,
    running_nginx,
    serving,
    trusting,
)
from tests.e2e.processes import cli_environment, free_port, run_cli
from tests.flows import csrf_token_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(NGINX is None, reason="no nginx binary (Debian: apt-get install nginx)"),
]

# The test client connects from another loopback address than nginx's (127.0.0.1), so the
# address the server believes shows whose it is.
CLIENT_ADDRESS = "127.0.0.5"
FORGED_ADDRESS = "6.6.6.6"
FORGED_REQUEST_ID = "forged-request-id-0001"
PASSWORD = "correct horse battery staple"
NGINX_REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")


@dataclass(frozen=True)
class Stack:
    proxy_url: str
    server_url: str
    certificate: Path
    server_log: Path
    proxy_log: Path


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """One `authserver serve` in production mode with the https issuer of the nginx in
    front of it, and that nginx; a user alice."""
    directory = tmp_path_factory.mktemp("behind-nginx")
    certificate, key = make_certificate(directory)
    proxy_port, server_port = free_port(), free_port()
    url = request.getfixturevalue(f"{request.param}_url")
    environment = cli_environment(
        url,
        directory / "keys",
        AUTHSERVER_MODE="production",
        AUTHSERVER_KEYS_PASSPHRASE=secrets.token_urlsafe(32),
        AUTHSERVER_ISSUER=f"https://127.0.0.1:{proxy_port}",
        AUTHSERVER_TRUSTED_PROXIES="127.0.0.1/32",
        AUTHSERVER_LOG_FORMAT="json",
    )
    environment.pop("AUTHLIB_INSECURE_TRANSPORT", None)
    (directory / "nginx").mkdir()
    with (
        contextmanager(database_for_a_test)(url),
        serving(environment, server_port, directory / "server.log") as server_url,
        running_nginx(
            directory / "nginx",
            port=proxy_port,
            upstream=f"127.0.0.1:{server_port}",
            certificate=certificate,
            key=key,
        ) as proxy_url,
    ):
        created = run_cli(
            environment, "users", "create", "--username", "alice", "--password-stdin",
            stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        yield Stack(
            proxy_url, server_url, certificate, directory / "server.log",
            directory / "nginx" / "access.log",
        )  # fmt: skip


def through_nginx(stack: Stack) -> httpx.Client:
    transport = httpx.HTTPTransport(
        verify=trusting(stack.certificate), local_address=CLIENT_ADDRESS
    )
    return httpx.Client(base_url=stack.proxy_url, transport=transport)


def directly(stack: Stack) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    return httpx.Client(base_url=stack.server_url, transport=transport)


def cookie_attributes(response: httpx.Response, name: str) -> set[str]:
    """The attributes of the Set-Cookie header for `name`, lower-cased (`secure`, `path=/`)."""
    for header in response.headers.get_list("set-cookie"):
        pair, *attributes = (part.strip() for part in header.split(";"))
        if pair.partition("=")[0] == name:
            return {attribute.lower() for attribute in attributes}
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def test_discovery_through_nginx_names_the_https_issuer_and_https_endpoints(stack: Stack) -> None:
    with through_nginx(stack) as http:
        response = http.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["issuer"] == stack.proxy_url
    urls = {
        name: value
        for name, value in metadata.items()
        if name.endswith(("_endpoint", "_uri")) and isinstance(value, str)
    }
    assert {"authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"} <= set(
        urls
    )
    assert all(url.startswith(f"{stack.proxy_url}/") for url in urls.values()), urls
    # RFC 6797: nginx adds HSTS.
    assert response.headers["strict-transport-security"].startswith("max-age=")


def test_the_login_page_and_a_sign_in_through_nginx_set_secure_host_prefixed_cookies(
    stack: Stack,
) -> None:
    with through_nginx(stack) as http:
        page = http.get("/login")
        form = {"csrf_token": csrf_token_of(page.text), "username": "alice", "password": PASSWORD}
        signed_in = http.post("/login", data=form)

    assert page.status_code == 200
    assert signed_in.status_code == 303, signed_in.text
    for response, name in (
        (page, "__Host-authserver_csrf"),
        (signed_in, "__Host-authserver_session"),
    ):
        attributes = cookie_attributes(response, name)
        # RFC 6265bis §4.1.3.2: __Host- means Secure, Path=/ and no Domain.
        assert {"secure", "path=/", "httponly"} <= attributes
        assert not any(attribute.startswith("domain=") for attribute in attributes)


def test_a_forged_x_forwarded_for_through_nginx_is_logged_with_the_real_client(
    stack: Stack,
) -> None:
    with through_nginx(stack) as http:
        response = http.get("/healthz", headers={"X-Forwarded-For": FORGED_ADDRESS})

    assert response.status_code == 200
    entry = access_log_entry(stack.server_log, response.headers["x-request-id"])
    assert entry["client"] == CLIENT_ADDRESS
    assert entry["path"] == "/healthz" and entry["status"] == 200


def test_a_forged_x_forwarded_for_sent_to_the_server_directly_is_ignored(stack: Stack) -> None:
    headers = {"X-Forwarded-For": FORGED_ADDRESS, "X-Request-ID": FORGED_REQUEST_ID}
    with directly(stack) as http:
        response = http.get("/healthz", headers=headers)

    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    assert request_id != FORGED_REQUEST_ID  # an untrusted peer's id is not taken either
    assert access_log_entry(stack.server_log, request_id)["client"] == CLIENT_ADDRESS


def test_the_request_id_nginx_makes_is_the_one_the_server_logs_and_returns(
    stack: Stack,
) -> None:
    with through_nginx(stack) as http:
        response = http.get("/.well-known/jwks.json", headers={"X-Request-ID": FORGED_REQUEST_ID})

    assert response.status_code == 200
    request_id = response.headers["x-request-id"]
    # nginx's $request_id (32 hex digits) replaced the client's.
    assert NGINX_REQUEST_ID.match(request_id), request_id
    logged = access_log_entry(stack.server_log, request_id)
    assert logged["path"] == "/.well-known/jwks.json" and logged["client"] == CLIENT_ADDRESS
    at_nginx = log_entry(stack.proxy_log, request_id=request_id)
    assert (at_nginx["client"], at_nginx["path"], at_nginx["status"]) == (
        CLIENT_ADDRESS, "/.well-known/jwks.json", 200,
    )  # fmt: skip

"""GET /openapi.json: a valid OpenAPI 3.1 description that names every endpoint and tells the
truth about its answers (issue 14, item 4).

Real answers of the app, refusals and outages included, are checked against the served
description with the same schemathesis checks as the fuzz run (tests/fuzz): the status is
documented, and so are the media type, the required headers and the body.
"""

import copy
import importlib
import pkgutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import APIRouter
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from httpx import Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import authserver.http
from authserver.app import create_app
from authserver.db import Database
from tests.conftest import ISSUER, make_settings
from tests.dpop_proofs import DPoPKey
from tests.flows import Grant, grant_for
from tests.http.tokens import basic, request_token

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# CONTRACT.md, "HTTP endpoints", plus `GET /metrics` (fleet) and this document (hostile input).
CONTRACT_ENDPOINTS = {
    "/.well-known/openid-configuration": {"GET"},
    "/.well-known/oauth-authorization-server": {"GET"},
    "/.well-known/jwks.json": {"GET"},
    "/authorize": {"GET"},
    "/token": {"POST"},
    "/revoke": {"POST"},
    "/introspect": {"POST"},
    "/userinfo": {"GET", "POST"},
    "/logout": {"GET", "POST"},
    "/login": {"GET", "POST"},
    "/healthz": {"GET"},
    "/readyz": {"GET"},
    "/metrics": {"GET"},
    "/openapi.json": {"GET"},
}
# Served but no API: the pages' stylesheet.
UNDESCRIBED_ROUTES = {"/assets/authserver.css", "/assets/passkeys.js"}
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
GONE = "postgresql+psycopg://postgres@127.0.0.1:1/nothing-listens"


@pytest.fixture
def document(http: TestClient) -> dict[str, Any]:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return response.json()


@pytest.fixture
def described(document: dict[str, Any]) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(document)


def conforms(described: schemathesis.BaseSchema, response: Response, **sent: Any) -> Response:
    """The response passes the fuzz run's checks for the operation it answers (but for
    `not_a_server_error` on a 503, which the outage test provokes on purpose)."""
    operation = described[response.request.url.path][response.request.method]
    checks = CHECKS if response.status_code != 503 else CHECKS[1:]
    operation.Case(**sent).validate_response(response, checks=checks)
    return response


def documented_methods(document: dict[str, Any], path: str) -> set[str]:
    return {method.upper() for method in document["paths"][path]}


def test_the_description_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    """Against the OpenAPI 3.1 meta-schema (schemathesis's copy of the OAI one), every
    `$ref` resolving; a broken copy is refused, so the validation is not vacuous."""
    assert document["openapi"] == "3.1.0"
    described = schemathesis.openapi.from_dict(document)
    described.validate()
    operations = list(described.get_all_operations())
    assert operations and all(operation.ok() for operation in operations)
    broken = copy.deepcopy(document)
    del broken["paths"]["/token"]["post"]["responses"]["200"]["description"]
    with pytest.raises(Exception, match="description"):
        schemathesis.openapi.from_dict(broken).validate()


def test_the_description_names_every_endpoint_of_the_contract(document: dict[str, Any]) -> None:
    for path, methods in CONTRACT_ENDPOINTS.items():
        assert methods <= documented_methods(document, path), path


def test_every_route_is_described_and_every_described_operation_is_routed(
    document: dict[str, Any],
) -> None:
    """The routes of every router in `authserver.http` (the hot paths are routes there too)."""
    routed = {
        (route.path, method)
        for router in http_routers()
        for route in router.routes
        if isinstance(route, APIRoute) and route.path not in UNDESCRIBED_ROUTES
        for method in route.methods
    }
    described = {
        (path, method)
        for path in document["paths"]
        for method in documented_methods(document, path) - {"OPTIONS"}
    }
    assert routed == described


def http_routers() -> Iterator[APIRouter]:
    for module in pkgutil.iter_modules(authserver.http.__path__):
        router = getattr(importlib.import_module(f"authserver.http.{module.name}"), "router", None)
        if isinstance(router, APIRouter):
            yield router


def test_a_method_the_description_does_not_list_is_405_naming_the_routed_ones(
    http: TestClient, document: dict[str, Any]
) -> None:
    """RFC 9110 §15.5.6: 405 with `Allow` naming every method the path supports. OPTIONS
    is described only where CORS answers a preflight; HEAD goes with GET."""
    for path in document["paths"]:
        listed = documented_methods(document, path)
        for method in set(METHODS) - listed:
            response = http.request(method, path)
            assert response.status_code == 405, (method, path)
            allowed = {name.strip() for name in response.headers["allow"].split(",")}
            assert allowed - {"HEAD"} == listed - {"OPTIONS", "HEAD"}, (method, path)


def test_the_document_is_built_once_and_kept_as_bytes(http: TestClient) -> None:
    first, second = http.get("/openapi.json"), http.get("/openapi.json")
    assert first.content == second.content
    assert http.app.state.openapi_document is http.app.state.openapi_document  # type: ignore[attr-defined]
    assert first.content == http.app.state.openapi_document  # type: ignore[attr-defined]
    assert first.json()["servers"] == [{"url": ISSUER}]


def test_token_answers_conform(
    http: TestClient, described: schemathesis.BaseSchema, registered: tuple[str, str]
) -> None:
    """RFC 6749 §5.1 success, §5.2 errors, 401 with the Basic challenge."""
    issued = conforms(described, request_token(http, *registered))
    assert issued.status_code == 200
    unsupported = conforms(
        described, http.post("/token", data={"grant_type": "password"}, headers=basic(*registered))
    )
    assert unsupported.json()["error"] == "unsupported_grant_type"
    anonymous = conforms(described, http.post("/token", data={"grant_type": "client_credentials"}))
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic ")
    cors = conforms(described, http.options("/token", headers=preflight()), headers=preflight())
    assert cors.status_code == 204


def preflight() -> dict[str, str]:
    return {"Origin": "https://spa.example.test", "Access-Control-Request-Method": "POST"}


def test_introspection_and_revocation_answers_conform(
    http: TestClient, described: schemathesis.BaseSchema, registered: tuple[str, str]
) -> None:
    token = request_token(http, *registered).json()["access_token"]
    auth = basic(*registered)
    active = conforms(described, http.post("/introspect", data={"token": token}, headers=auth))
    assert active.json()["active"] is True
    revoked = conforms(described, http.post("/revoke", data={"token": token}, headers=auth))
    assert revoked.json() == {}
    inactive = conforms(described, http.post("/introspect", data={"token": token}, headers=auth))
    assert inactive.json() == {"active": False}
    missing = conforms(described, http.post("/revoke", data={}, headers=auth))
    assert missing.json()["error"] == "invalid_request"


def test_userinfo_answers_conform(
    http: TestClient,
    described: schemathesis.BaseSchema,
    grant: Grant,
    web_app: tuple[str, str],
) -> None:
    """RFC 6750 §3: the challenges of 401 and 403 are described too."""
    bearer = {"Authorization": f"Bearer {grant.access_token}"}
    assert conforms(described, http.get("/userinfo", headers=bearer)).status_code == 200
    assert conforms(described, http.post("/userinfo", headers=bearer)).status_code == 200
    assert conforms(described, http.get("/userinfo")).headers["www-authenticate"] == "Bearer"
    no_openid = grant_for(http, *web_app, scope="orders:read")
    scoped = {"Authorization": f"Bearer {no_openid.access_token}"}
    assert conforms(described, http.get("/userinfo", headers=scoped)).status_code == 403


def test_dpop_answers_conform(
    http: TestClient,
    described: schemathesis.BaseSchema,
    registered: tuple[str, str],
    web_app: tuple[str, str],
) -> None:
    """RFC 9449: token_type DPoP, `invalid_dpop_proof`, `cnf` in introspection, and the
    DPoP challenges of /userinfo are described too."""
    key = DPoPKey.generate()
    token_url, userinfo_url = f"{ISSUER}/token", f"{ISSUER}/userinfo"
    proof = {"DPoP": key.proof("POST", token_url)}
    data = {"grant_type": "client_credentials"}
    issued = conforms(described, http.post("/token", data=data, headers=basic(*registered) | proof))
    assert issued.json()["token_type"] == "DPoP"
    replayed = http.post("/token", data=data, headers=basic(*registered) | proof)
    assert conforms(described, replayed).json()["error"] == "invalid_dpop_proof"
    token = issued.json()["access_token"]
    introspected = http.post("/introspect", data={"token": token}, headers=basic(*registered))
    assert conforms(described, introspected).json()["cnf"] == {"jkt": key.jkt}
    user_token = grant_for(http, *web_app).access_token
    bound = conforms(described, http.get("/userinfo", headers={"Authorization": f"Bearer {token}"}))
    assert bound.status_code == 401
    dpop = {"Authorization": f"DPoP {user_token}", "DPoP": key.proof("GET", userinfo_url)}
    assert conforms(described, http.get("/userinfo", headers=dpop)).status_code == 401


def test_page_answers_conform(
    http: TestClient, described: schemathesis.BaseSchema, grant: Grant
) -> None:
    """HTML pages, the error page instead of a redirect, and the redirects."""
    assert conforms(described, http.get("/login")).status_code == 200
    assert conforms(described, http.get("/authorize")).status_code == 400
    expired = conforms(described, http.post("/login", data={"csrf_token": "x"}))
    assert expired.status_code == 400
    confirm = conforms(described, http.get("/logout", follow_redirects=False))
    assert "text/html" in confirm.headers["content-type"]
    hinted = http.get("/logout", params={"id_token_hint": grant.id_token}, follow_redirects=False)
    assert conforms(described, hinted).status_code == 200


def test_documents_and_probes_conform(http: TestClient, described: schemathesis.BaseSchema) -> None:
    for path in ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"):
        assert conforms(described, http.get(path)).status_code == 200
    jwks = conforms(described, http.get("/.well-known/jwks.json"))
    tag = {"If-None-Match": jwks.headers["etag"]}
    fresh = conforms(described, http.get("/.well-known/jwks.json", headers=tag), headers=tag)
    assert fresh.status_code == 304
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json"):
        assert conforms(described, http.get(path)).status_code == 200


@pytest.fixture
def limited(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    settings = make_settings(
        database_url=database.url,
        keys_dir=keys_dir,
        client_rate_limit="1/minute",
        metrics_token="a-metrics-token-of-some-length",
    )
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield http


def test_rate_limited_and_metrics_refusals_conform(
    limited: TestClient, described: schemathesis.BaseSchema, registered: tuple[str, str]
) -> None:
    """429 with Retry-After (RFC 6585 §4); /metrics without its token, 401 (RFC 6750 §3)."""
    assert request_token(limited, *registered).status_code == 200
    over = conforms(described, request_token(limited, *registered))
    assert over.status_code == 429
    assert over.json()["error"] == "temporarily_unavailable"
    refused = conforms(described, limited.get("/metrics"))
    assert refused.status_code == 401


def test_answers_without_the_database_conform(
    http: TestClient,
    described: schemathesis.BaseSchema,
    registered: tuple[str, str],
    grant: Grant,
) -> None:
    """503 `temporarily_unavailable` with Retry-After, as JSON on the OAuth endpoints and as
    a page on the browser's (signed in: the page must read the session); /readyz says 503."""
    token = request_token(http, *registered).json()["access_token"]
    # The page's 503 comes from the outage handler, below Starlette's error middleware:
    # nothing is re-raised (a test client would raise it; a server would log a traceback).
    browser = TestClient(http.app, base_url=ISSUER, cookies=http.cookies)
    services = http.app.state.services  # type: ignore[attr-defined]
    working, async_db, loop_reads = services.database, services.async_db, services.loop_reads
    gone = Database(GONE)
    # The event loop's own reads go too (/userinfo reads through them).
    services.database, services.oauth.database = gone, gone
    services.async_db = services.loop_reads = None
    try:
        revoke = http.post("/revoke", data={"token": token}, headers=basic(*registered))
        userinfo = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        page = browser.get("/login")
        ready = http.get("/readyz")
    finally:
        services.database = services.oauth.database = working
        services.async_db, services.loop_reads = async_db, loop_reads
        gone.dispose()
    for answer in (revoke, userinfo, page):
        assert conforms(described, answer).status_code == 503
        assert answer.headers["retry-after"] == "1"
    assert revoke.json()["error"] == userinfo.json()["error"] == "temporarily_unavailable"
    assert page.headers["content-type"].startswith("text/html")
    assert conforms(described, ready).status_code == 503

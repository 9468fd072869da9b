"""/register and /register/{client_id} as the OpenAPI description says (issue 14, item 4):
every answer, refusals included, passes the fuzz run's checks for its operation."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from httpx import Response
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from authserver.db import Database
from tests.http.registration import (
    WEB_APP_METADATA,
    app_with,
    bearer,
    initial_access_token,
    register,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def described(http: TestClient) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_dict(http.get("/openapi.json").json())


def conforms(described: schemathesis.BaseSchema, response: Response) -> Response:
    path = response.request.url.path
    if path == "/register":
        case = described[path][response.request.method].Case()
    else:
        operation = described["/register/{client_id}"][response.request.method]
        case = operation.Case(path_parameters={"client_id": path.rsplit("/", 1)[1]})
    case.validate_response(response, checks=CHECKS)
    return response


def test_registration_answers_conform(
    http: TestClient, database: Database, described: schemathesis.BaseSchema
) -> None:
    token = initial_access_token(database)
    created = conforms(described, register(http, token, WEB_APP_METADATA))
    assert created.status_code == 201
    client = created.json()
    assert conforms(described, register(http, None, WEB_APP_METADATA)).status_code == 401
    fresh = initial_access_token(database)
    invalid = register(http, fresh, {"redirect_uris": ["http://x.example.test/"]})
    assert conforms(described, invalid).status_code == 400
    path = f"/register/{client['client_id']}"
    headers = bearer(client["registration_access_token"])
    assert conforms(described, http.get(path, headers=headers)).status_code == 200
    assert conforms(described, http.get(path)).status_code == 401
    update = {**WEB_APP_METADATA, "client_id": client["client_id"]}
    assert conforms(described, http.put(path, json=update, headers=headers)).status_code == 200
    refused = http.put(path, json={**update, "scope": "admin"}, headers=headers)
    assert conforms(described, refused).status_code == 400
    assert conforms(described, http.delete(path, headers=headers)).status_code == 204


@pytest.fixture
def off(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    with app_with(database, keys_dir, registration="off") as http:
        yield http


def test_answers_with_registration_off_conform(
    off: TestClient, described: schemathesis.BaseSchema
) -> None:
    assert conforms(described, register(off, None, WEB_APP_METADATA)).status_code == 404
    assert conforms(described, off.delete("/register/x")).status_code == 404

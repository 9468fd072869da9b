"""Helpers to request and check tokens in the HTTP tests."""

import base64
import json
from typing import Any

import jwt
from fastapi.testclient import TestClient
from httpx import Response


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def request_token(http: TestClient, client_id: str, secret: str, **form: Any) -> Response:
    data = {"grant_type": "client_credentials", **form}
    return http.post("/token", data=data, headers=basic(client_id, secret))


def jose_header(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def verify_with_jwks(http: TestClient, token: str, audience: str | list[str]) -> dict[str, Any]:
    """Verify as a resource service would: key by `kid` from the JWKS, RS256 only."""
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == jose_header(token)["kid"])
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=audience,
        issuer=str(http.base_url).rstrip("/"),
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )


def assert_oauth_error(response: Response, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2: the error JSON with `Cache-Control: no-store`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = json.loads(response.content)
    assert body["error"] == error
    return body

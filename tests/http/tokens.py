"""Helpers to request, check and forge tokens in the HTTP tests."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from fastapi.testclient import TestClient
from httpx import Response
from joserfc import jwt as jose_jwt
from joserfc.jwk import RSAKey
from joserfc.jws import JWSRegistry

_RS256 = JWSRegistry(algorithms=["RS256"])


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{client_id}:{secret}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def request_token(http: TestClient, client_id: str, secret: str, **form: Any) -> Response:
    data = {"grant_type": "client_credentials", **form}
    return http.post("/token", data=data, headers=basic(client_id, secret))


def jose_header(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def jwks_key(http: TestClient, token: str) -> Any:
    """The published key the token's `kid` names, from the JWKS as a client reads it."""
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    return next(k for k in jwks.keys if k.key_id == jose_header(token)["kid"]).key


def verify_with_jwks(http: TestClient, token: str, audience: str | list[str]) -> dict[str, Any]:
    """Verify as a resource service would: key by `kid` from the JWKS, RS256 only."""
    return jwt.decode(
        token,
        jwks_key(http, token),
        algorithms=["RS256"],
        audience=audience,
        issuer=str(http.base_url).rstrip("/"),
        options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
    )


def verified_id_token(http: TestClient, token: str, client_id: str) -> dict[str, Any]:
    """An id_token's claims as a client reads them (OIDC Core §3.1.3.7): RS256 with the JWKS
    key its `kid` names, `iss` this server, `aud` the client, `typ` never `at+jwt`
    (RFC 8725 §3.11)."""
    header = jose_header(token)
    assert header["typ"] == "JWT", header
    return jwt.decode(
        token,
        jwks_key(http, token),
        algorithms=["RS256"],
        audience=client_id,
        issuer=str(http.base_url).rstrip("/"),
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
    )


def assert_oauth_error(response: Response, status: int, error: str) -> dict[str, Any]:
    """RFC 6749 §5.2: the error JSON with `Cache-Control: no-store`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = json.loads(response.content)
    assert body["error"] == error
    return body


def server_key(http: TestClient) -> RSAKey:
    return http.app.state.services.keyring.signing_key  # type: ignore[attr-defined]


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_rs256(claims: dict[str, Any], key: RSAKey, kid: str | None = None) -> str:
    """An access token as `authserver/tokens/access.py` makes one, with `claims` as given."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid or key.kid}
    return jose_jwt.encode(header, claims, key, registry=_RS256)


def unsigned(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def sign_hs256(claims: dict[str, Any], secret: bytes, kid: str) -> str:
    """RFC 8725 §2.1: the key confusion attack, an HMAC keyed with our public key."""
    signing_input = unsigned({"alg": "HS256", "typ": "at+jwt", "kid": kid}, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def with_claims(claims: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**claims, **changes}


def expired(claims: dict[str, Any], seconds_ago: int) -> dict[str, Any]:
    now = int(time.time())
    return with_claims(claims, exp=now - seconds_ago, iat=now - seconds_ago - 900)

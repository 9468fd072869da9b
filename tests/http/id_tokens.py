"""Reading an id_token in the HTTP tests as a client would (OIDC Core §3.1.3.7)."""

from typing import Any

import jwt
from fastapi.testclient import TestClient

from tests.http.tokens import jose_header


def verified_id_token(http: TestClient, token: str, client_id: str) -> dict[str, Any]:
    """The id_token's claims once verified: RS256 with the JWKS key its `kid` names, `iss`
    this server, `aud` the client, `typ` never `at+jwt` (RFC 8725 §3.11)."""
    header = jose_header(token)
    assert header["typ"] == "JWT", header
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    key = next(k for k in jwks.keys if k.key_id == header["kid"])
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=str(http.base_url).rstrip("/"),
        options={"require": ["iss", "sub", "aud", "exp", "iat", "auth_time"]},
    )

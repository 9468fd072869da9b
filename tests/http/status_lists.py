"""Reading the status of our own tokens back through the published lists, as a verifier would."""

from typing import Any

import jwt
from fastapi.testclient import TestClient

from authserver.statuslists import bits
from tests.http.tokens import basic, verify_with_jwks

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"


def status_entry(token: str) -> tuple[str, int]:
    """(uri, idx) of an access token's `status` claim (draft-ietf-oauth-status-list-18 §6.2)."""
    entry = jwt.decode(token, options={"verify_signature": False})["status"]["status_list"]
    assert set(entry) == {"idx", "uri"}
    assert type(entry["idx"]) is int and entry["idx"] >= 0
    return entry["uri"], entry["idx"]


def list_claims(http: TestClient, uri: str) -> dict[str, Any]:
    """The Status List Token at `uri`, its signature checked with the JWKS (§8.3)."""
    response = http.get(uri, headers={"Accept": STATUS_LIST_MEDIA_TYPE})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == STATUS_LIST_MEDIA_TYPE
    token = response.text
    assert jwt.get_unverified_header(token)["typ"] == "statuslist+jwt"
    jwks = jwt.PyJWKSet.from_dict(http.get("/.well-known/jwks.json").json())
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(k for k in jwks.keys if k.key_id == kid)
    claims = jwt.decode(
        token, key.key, algorithms=["RS256"], options={"require": ["sub", "iat", "exp"]}
    )
    assert claims["sub"] == uri
    return claims


def status_of(http: TestClient, token: str) -> int:
    uri, idx = status_entry(token)
    array = bits.decode(list_claims(http, uri)["status_list"]["lst"])
    return bits.status_at(array, idx)


def invalid_indexes(http: TestClient, uri: str) -> set[int]:
    claims = list_claims(http, uri)
    assert claims["status_list"]["bits"] == 1
    array = bits.decode(claims["status_list"]["lst"])
    return {i for i in range(len(array) * 8) if bits.status_at(array, i)}


def still_verifies(http: TestClient, token: str, audience: str) -> bool:
    """The signature and claims still hold: only the status says it is revoked."""
    return bool(verify_with_jwks(http, token, audience))


def refresh(http: TestClient, grant: Any, refresh_token: str) -> Any:
    """RFC 6749 §6 with the grant's client credentials."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return http.post("/token", data=data, headers=basic(grant.client_id, grant.secret or ""))

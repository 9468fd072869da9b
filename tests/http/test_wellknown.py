"""Discovery (RFC 8414, OIDC Discovery 1.0), the JWKS (RFC 7517) and the health probes."""

import pytest
from fastapi.testclient import TestClient

from tests.conftest import ISSUER

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
def test_discovery_names_only_what_is_implemented(http: TestClient, path: str) -> None:
    metadata = http.get(path).json()
    # RFC 8414 §3.3: `issuer` is identical to the issuer the metadata is for.
    assert metadata["issuer"] == ISSUER
    assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
    assert metadata["token_endpoint"] == f"{ISSUER}/token"
    assert metadata["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert metadata["userinfo_endpoint"] == f"{ISSUER}/userinfo"
    assert metadata["end_session_endpoint"] == f"{ISSUER}/logout"
    assert set(metadata["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:device_code",  # RFC 8628
        "urn:ietf:params:oauth:grant-type:token-exchange",  # RFC 8693
    }
    assert metadata["device_authorization_endpoint"] == f"{ISSUER}/device_authorization"
    assert metadata["revocation_endpoint"] == f"{ISSUER}/revoke"
    assert metadata["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert set(metadata["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",  # RFC 7523 §2.2, OIDC Core §9
        "none",
    }
    # RFC 7636 §4.2 / CONTRACT.md: S256 only; `plain` is not advertised.
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    # RFC 9207 §3.
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_discovery_has_every_member_openid_connect_discovery_requires(http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()
    # OIDC Discovery 1.0 §3: REQUIRED members.
    for member in (
        "issuer",
        "authorization_endpoint",
        "jwks_uri",
        "response_types_supported",
        "subject_types_supported",
        "id_token_signing_alg_values_supported",
    ):
        assert metadata[member], member
    assert metadata["id_token_signing_alg_values_supported"] == ["RS256"]
    # Default true in §3; we support neither, so it must say false.
    assert metadata["request_uri_parameter_supported"] is False


def test_every_endpoint_discovery_names_answers(http: TestClient) -> None:
    metadata = http.get("/.well-known/openid-configuration").json()

    def path(member: str) -> str:
        return metadata[member].removeprefix(ISSUER)

    assert http.get(path("jwks_uri")).status_code == 200
    # The token endpoint exists: an empty POST is a JSON error, not a 404.
    assert http.post(path("token_endpoint")).status_code == 400
    # An authorize request naming no client is an error page (RFC 6749 §4.1.2.1).
    assert http.get(path("authorization_endpoint")).status_code == 400
    assert http.get(path("userinfo_endpoint")).status_code == 401
    assert http.get(path("end_session_endpoint")).status_code == 200
    # Both need client authentication: 401 invalid_client (RFC 7009 §2.1, RFC 7662 §2.1).
    assert http.post(path("revocation_endpoint"), data={"token": "x"}).status_code == 401
    assert http.post(path("introspection_endpoint"), data={"token": "x"}).status_code == 401


def test_the_jwks_publishes_current_and_next_keys_with_public_members_only(
    http: TestClient,
) -> None:
    response = http.get("/.well-known/jwks.json")
    keys = response.json()["keys"]
    services = http.app.state.services  # type: ignore[attr-defined]
    assert len(keys) == 2
    assert keys[0]["kid"] == services.keyring.current_kid
    for key in keys:
        assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
        assert not PRIVATE_MEMBERS & set(key)
        assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    assert len({key["kid"] for key in keys}) == 2


def test_the_jwks_is_cacheable_and_revalidates_with_its_etag(http: TestClient) -> None:
    response = http.get("/.well-known/jwks.json")
    assert response.headers["cache-control"] == "public, max-age=300"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')

    # RFC 9110 §13.1.2: If-None-Match with the current tag (weak or strong) → 304.
    for tag in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        revalidated = http.get("/.well-known/jwks.json", headers={"If-None-Match": tag})
        assert revalidated.status_code == 304, tag
        assert revalidated.content == b""
        assert revalidated.headers["etag"] == etag

    changed = http.get("/.well-known/jwks.json", headers={"If-None-Match": '"stale"'})
    assert changed.status_code == 200
    assert changed.json() == response.json()


def test_healthz_and_readyz_answer_when_the_server_is_ready(http: TestClient) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": True, "signing_key": True}


def test_readyz_is_503_when_the_database_is_gone(http: TestClient) -> None:
    services = http.app.state.services  # type: ignore[attr-defined]
    from authserver.db import Database

    services.database = Database("postgresql+psycopg://postgres@127.0.0.1:1/nothing-listens")
    response = http.get("/readyz")
    services.database.dispose()
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False


def test_an_unknown_path_is_a_json_404(http: TestClient) -> None:
    response = http.get("/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found"}

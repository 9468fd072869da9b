"""Token Status List (draft-ietf-oauth-status-list-18) through the HTTP interface.

Every access token names its entry (§6.2); each list is served as a signed Status List
Token (§5.1, §8); revoking a token, its family, session, user or client sets exactly the
bits of the tokens it ends (§7.1, `0x01` INVALID).
"""

import itertools
import time

import jwt
import pytest
from fastapi.testclient import TestClient

from authserver.clients.repository import ClientRepository
from authserver.clock import utcnow
from authserver.db import Database
from authserver.login.sessions import end_all_sessions_of_user
from authserver.statuslists import bits
from authserver.users.models import User
from tests.conftest import ISSUER
from tests.factories import make_client
from tests.flows import Grant
from tests.http.status_lists import (
    STATUS_LIST_MEDIA_TYPE,
    invalid_indexes,
    list_claims,
    refresh,
    status_entry,
    status_of,
)
from tests.http.tokens import basic, request_token


def cc_token(http: TestClient, registered: tuple[str, str]) -> str:
    response = request_token(http, *registered)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_every_access_token_names_its_entry_in_a_list_of_this_issuer(
    http: TestClient, registered: tuple[str, str], grant: Grant
) -> None:
    for token in (cc_token(http, registered), grant.access_token):
        uri, _ = status_entry(token)
        assert uri.startswith(f"{ISSUER}/statuslists/")
        assert status_of(http, token) == bits.VALID


def test_the_status_list_token_is_signed_typed_and_cacheable_for_its_ttl(
    http: TestClient, registered: tuple[str, str]
) -> None:
    uri, _ = status_entry(cc_token(http, registered))
    claims = list_claims(http, uri)  # signature, typ, sub == uri: checked there
    ttl = http.app.state.services.settings.status_list_ttl.total_seconds()  # type: ignore[attr-defined]
    assert claims["ttl"] == ttl
    assert claims["iss"] == ISSUER
    assert claims["iat"] <= time.time() + 1 and claims["exp"] >= claims["iat"] + ttl
    assert claims["status_list"]["bits"] == 1
    response = http.get(uri)
    assert response.headers["cache-control"] == f"public, max-age={int(ttl)}"
    etag = response.headers["etag"]
    again = http.get(uri, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag


def test_a_list_serves_only_its_jwt_form_and_unknown_lists_are_404(
    http: TestClient, registered: tuple[str, str]
) -> None:
    uri, _ = status_entry(cc_token(http, registered))
    refused = http.get(uri, headers={"Accept": "application/statuslist+cwt"})
    assert refused.status_code == 406
    assert http.get(uri, headers={"Accept": f"{STATUS_LIST_MEDIA_TYPE}, */*;q=0.1"}).is_success
    for missing in ("/statuslists/nope", "/statuslists/" + "x" * 200):
        response = http.get(missing)
        assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_discovery_names_the_aggregation_endpoint_which_lists_every_live_list(
    http: TestClient, registered: tuple[str, str]
) -> None:
    uri, _ = status_entry(cc_token(http, registered))
    metadata = http.get("/.well-known/oauth-authorization-server").json()
    assert metadata["status_list_aggregation_endpoint"] == f"{ISSUER}/statuslists"
    assert uri in http.get("/statuslists").json()["status_lists"]
    assert list_claims(http, uri)["status_list"]["aggregation_uri"] == f"{ISSUER}/statuslists"


def test_indexes_are_unique_and_not_in_issue_order(
    http: TestClient, registered: tuple[str, str]
) -> None:
    """§13.2 (unlinkability, correlation by issue order): 150 tokens in a row."""
    entries = [status_entry(cc_token(http, registered)) for _ in range(150)]
    assert len(set(entries)) == len(entries)
    indexes = [idx for _, idx in entries]
    assert indexes != sorted(indexes) and indexes != sorted(indexes, reverse=True)
    ascending = sum(1 for a, b in itertools.pairwise(indexes) if b > a)
    assert 40 < ascending < 110  # a random order rises about half the time
    assert max(indexes) - min(indexes) > 10_000  # spread over the list, not one block


def test_revoking_an_access_token_sets_exactly_its_bit(
    http: TestClient, registered: tuple[str, str]
) -> None:
    tokens = [cc_token(http, registered) for _ in range(3)]
    uri, idx = status_entry(tokens[1])
    assert all(status_entry(t)[0] == uri for t in tokens)
    before = invalid_indexes(http, uri)
    response = http.post("/revoke", data={"token": tokens[1]}, headers=basic(*registered))
    assert response.status_code == 200
    time.sleep(1.05)  # a process rebuilds a list at most once a second
    assert invalid_indexes(http, uri) == before | {idx}
    assert [status_of(http, t) for t in tokens] == [bits.VALID, bits.INVALID, bits.VALID]


def test_revoking_a_refresh_token_sets_the_bits_of_every_access_token_of_its_family(
    http: TestClient, grant: Grant, registered: tuple[str, str]
) -> None:
    bystander = cc_token(http, registered)
    refreshed = refresh(http, grant, grant.refresh_token)
    assert refreshed.status_code == 200, refreshed.text
    family_tokens = [grant.access_token, refreshed.json()["access_token"]]
    assert len({status_entry(t) for t in family_tokens}) == 2
    revoked = http.post(
        "/revoke",
        data={"token": refreshed.json()["refresh_token"]},
        headers=basic(grant.client_id, grant.secret or ""),
    )
    assert revoked.status_code == 200
    time.sleep(1.05)
    assert [status_of(http, t) for t in family_tokens] == [bits.INVALID, bits.INVALID]
    assert status_of(http, bystander) == bits.VALID


def test_refresh_reuse_sets_the_bits_of_the_family(http: TestClient, grant: Grant) -> None:
    """RFC 9700 §4.14.2: reuse revokes the family; its access tokens must stop, offline too."""
    first = refresh(http, grant, grant.refresh_token)
    assert first.status_code == 200
    replay = refresh(http, grant, grant.refresh_token)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    time.sleep(1.05)
    assert status_of(http, grant.access_token) == bits.INVALID
    assert status_of(http, first.json()["access_token"]) == bits.INVALID


def test_ending_a_users_sessions_sets_their_bits_and_no_one_elses(
    http: TestClient, grant: Grant, user: User, registered: tuple[str, str], database: Database
) -> None:
    bystander = cc_token(http, registered)
    with database.transaction() as db:
        assert user.id is not None
        end_all_sessions_of_user(db, user.id, utcnow(), "test")
    time.sleep(1.05)
    assert status_of(http, grant.access_token) == bits.INVALID
    assert status_of(http, bystander) == bits.VALID


def test_removing_a_client_sets_the_bits_of_its_client_credentials_tokens(
    http: TestClient, registered: tuple[str, str], database: Database
) -> None:
    other, other_secret = make_client(database, name="Other service")
    assert other_secret is not None
    doomed = [cc_token(http, (other.client_id, other_secret)) for _ in range(3)]
    kept = cc_token(http, registered)
    with database.transaction() as db:
        assert ClientRepository(db).delete(other.client_id)
    time.sleep(1.05)
    assert [status_of(http, t) for t in doomed] == [bits.INVALID] * 3
    assert status_of(http, kept) == bits.VALID


def test_an_index_outside_the_list_is_refused(
    http: TestClient, registered: tuple[str, str]
) -> None:
    """§8.3 step 4: an index past the end of the list is an error, never "valid"."""
    uri, _ = status_entry(cc_token(http, registered))
    array = bits.decode(list_claims(http, uri)["status_list"]["lst"])
    size = http.app.state.services.settings.status_list_size  # type: ignore[attr-defined]
    assert len(array) * 8 == size
    with pytest.raises(IndexError):
        bits.status_at(array, size)


@pytest.fixture
def small_lists_http(database: Database, keys_dir: object) -> TestClient:
    from authserver.app import create_app
    from tests.conftest import make_settings

    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, client_cache_ttl=0, status_list_size=16
    )
    return TestClient(create_app(settings), base_url=ISSUER)


def test_a_list_fills_and_rolls_over_to_a_new_one(
    small_lists_http: TestClient, registered: tuple[str, str]
) -> None:
    with small_lists_http as http:
        entries = [status_entry(cc_token(http, registered)) for _ in range(40)]
        by_list: dict[str, list[int]] = {}
        for uri, idx in entries:
            by_list.setdefault(uri, []).append(idx)
        assert len(by_list) == 3
        for indexes in by_list.values():
            assert len(set(indexes)) == len(indexes) and all(0 <= i < 16 for i in indexes)
        assert sorted(len(v) for v in by_list.values()) == [8, 16, 16]
        served = set(http.get("/statuslists").json()["status_lists"])
        assert served == set(by_list)
        for uri in by_list:
            assert len(bits.decode(list_claims(http, uri)["status_list"]["lst"])) == 2


def test_a_refreshed_token_is_a_new_entry(http: TestClient, grant: Grant) -> None:
    refreshed = refresh(http, grant, grant.refresh_token).json()["access_token"]
    assert status_entry(refreshed) != status_entry(grant.access_token)
    assert jwt.decode(refreshed, options={"verify_signature": False})["status"]

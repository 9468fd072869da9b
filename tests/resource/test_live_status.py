"""The verifier honours the Token Status List of a real `authserver serve`
(draft-ietf-oauth-status-list-18 §8.3): a revoked token is refused once the held list is
older than its `ttl`, an index outside the list and a list that is not the issuer's are
refused, and a list that cannot be fetched fails closed (IssuerUnavailable) unless the
service chose to fail open. Tokens with a crafted `status` are signed with the server's
own key, so only the status is wrong.
"""

import asyncio
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from authserver.resource import InvalidToken, IssuerUnavailable
from authserver.statuslists import bits
from authserver.statuslists.models import StatusRevocation
from tests.resource.conftest import LiveIssuer, MakeVerifier, start_issuer
from tests.resource.forge import HEADER, rs256

pytestmark = pytest.mark.e2e

TTL_S = 1


@pytest.fixture(scope="module")
def issuer(
    tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path
) -> Iterator[LiveIssuer]:
    directory = tmp_path_factory.mktemp("status-issuer")
    with start_issuer(directory, template_keys_dir, AUTHSERVER_STATUS_LIST_TTL=str(TTL_S)) as live:
        yield live


def entry(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})["status"]["status_list"]


def with_status(issuer: LiveIssuer, status: object) -> str:
    key = issuer.signing_key()
    return rs256({**HEADER, "kid": key.kid}, issuer.claims(status=status), key)


def test_a_revoked_token_is_refused_within_the_ttl_and_others_still_pass(
    issuer: LiveIssuer, make_verifier: MakeVerifier
) -> None:
    verifier, transport = make_verifier(issuer)
    revoked, kept = issuer.access_token(), issuer.access_token()
    for _ in range(20):  # the list is fetched once, not once per token
        verifier.verify(revoked)
        verifier.verify(kept)
    uri_path = httpx.URL(entry(revoked)["uri"]).path
    assert transport.paths[uri_path] == 1

    response = httpx.post(
        f"{issuer.base_url}/revoke",
        data={"token": revoked},
        auth=(issuer.client_id, issuer.secret),
    )
    assert response.status_code == 200
    deadline = time.monotonic() + TTL_S + 1 + 2
    while time.monotonic() < deadline:
        try:
            verifier.verify(revoked)
        except InvalidToken as refusal:
            assert str(refusal) == "the token has been revoked"
            break
        time.sleep(0.1)
    else:
        pytest.fail("the revoked token was still accepted after the ttl")
    assert verifier.verify(kept).jti == jwt.decode(kept, options={"verify_signature": False})["jti"]


def test_the_async_verifier_refuses_a_revoked_token_too(
    issuer: LiveIssuer, make_verifier: MakeVerifier
) -> None:
    verifier, _ = make_verifier(issuer)
    token = issuer.access_token()
    asyncio.run(verifier.averify(token))
    httpx.post(
        f"{issuer.base_url}/revoke", data={"token": token}, auth=(issuer.client_id, issuer.secret)
    ).raise_for_status()
    time.sleep(TTL_S + 1.1)
    with pytest.raises(InvalidToken, match="revoked"):
        asyncio.run(verifier.averify(token))


def test_an_index_outside_the_list_is_refused(
    issuer: LiveIssuer, make_verifier: MakeVerifier
) -> None:
    verifier, _ = make_verifier(issuer)
    uri = entry(issuer.access_token())["uri"]
    size = 1 << 20  # AUTHSERVER_STATUS_LIST_SIZE's default
    assert verifier.verify(with_status(issuer, {"status_list": {"idx": size - 1, "uri": uri}}))
    outside = with_status(issuer, {"status_list": {"idx": size, "uri": uri}})
    with pytest.raises(InvalidToken, match="outside its status list"):
        verifier.verify(outside)


@pytest.mark.parametrize(
    "status",
    [
        "revoked",
        {"status_list": "x"},
        {"status_list": {"idx": -1, "uri": "{issuer}/statuslists/x"}},
        {"status_list": {"idx": "1", "uri": "{issuer}/statuslists/x"}},
        {"status_list": {"idx": True, "uri": "{issuer}/statuslists/x"}},
        {"status_list": {"idx": 1}},
    ],
)
def test_a_malformed_status_claim_is_refused(
    issuer: LiveIssuer, make_verifier: MakeVerifier, status: object
) -> None:
    verifier, _ = make_verifier(issuer)
    if isinstance(status, dict) and isinstance(status["status_list"], dict):
        entry_ = status["status_list"]
        if "uri" in entry_:
            entry_["uri"] = entry_["uri"].format(issuer=issuer.base_url)
    with pytest.raises(InvalidToken, match="status claim is malformed"):
        verifier.verify(with_status(issuer, status))


@pytest.mark.parametrize(
    "uri",
    ["https://elsewhere.example.test/statuslists/x", "{issuer}/.well-known/jwks.json"],
)
def test_a_list_that_is_not_the_issuers_is_never_fetched(
    issuer: LiveIssuer, make_verifier: MakeVerifier, uri: str
) -> None:
    verifier, transport = make_verifier(issuer)
    token = with_status(
        issuer, {"status_list": {"idx": 0, "uri": uri.format(issuer=issuer.base_url)}}
    )
    with pytest.raises(InvalidToken, match="not one of the issuer's"):
        verifier.verify(token)
    assert all("statuslists" not in path for path in transport.paths)


def test_a_list_that_cannot_be_fetched_fails_closed_unless_told_otherwise(
    issuer: LiveIssuer, make_verifier: MakeVerifier
) -> None:
    missing = {"status_list": {"idx": 0, "uri": f"{issuer.base_url}/statuslists/gone"}}
    token = with_status(issuer, missing)
    closed, _ = make_verifier(issuer)
    with pytest.raises(IssuerUnavailable):
        closed.verify(token)
    opened, _ = make_verifier(issuer, status_fail_open=True)
    assert opened.verify(token)["status"] == missing
    unchecked, transport = make_verifier(issuer, check_status=False)
    assert unchecked.verify(token)
    assert "/statuslists/gone" not in transport.paths


def test_a_held_list_serves_through_an_outage_until_max_stale(
    tmp_path: Path, template_keys_dir: Path, make_verifier: MakeVerifier
) -> None:
    with start_issuer(tmp_path, template_keys_dir, AUTHSERVER_STATUS_LIST_TTL="1") as live:
        verifier, _ = make_verifier(live, status_max_stale=3)
        token = live.access_token()
        verifier.verify(token)
        held_at = time.monotonic()
    # The issuer is down: the held list still answers, past its ttl, within max_stale.
    time.sleep(1.2)
    assert verifier.verify(token)
    time.sleep(max(0.0, held_at + 3.2 - time.monotonic()))
    with pytest.raises(IssuerUnavailable):
        verifier.verify(token)


def test_a_list_larger_than_any_token_is_read(
    issuer: LiveIssuer, make_verifier: MakeVerifier
) -> None:
    """A list with many revoked entries is tens of KiB, past the 8 KiB a token may have."""
    token = issuer.access_token()
    uri, idx = entry(token)["uri"], entry(token)["idx"]
    list_id = uri.rsplit("/", 1)[1]
    others = random.Random(3).sample(sorted(set(range(1 << 20)) - {idx}), 6000)
    now = datetime.now(UTC)
    with issuer.database.transaction() as db:
        db.execute(
            StatusRevocation.__table__.insert(),  # type: ignore[attr-defined]
            [{"list_id": list_id, "idx": other, "revoked_at": now} for other in others],
        )
    time.sleep(TTL_S + 1.1)  # past the server's rebuild and any verifier's ttl
    published = httpx.get(uri)
    assert len(published.content) > 8 * 1024
    verifier, _ = make_verifier(issuer)
    assert verifier.verify(token)
    revoked = with_status(issuer, {"status_list": {"idx": others[0], "uri": uri}})
    with pytest.raises(InvalidToken, match="revoked"):
        verifier.verify(revoked)


def test_a_status_list_token_verifies_with_pyjwts_jwk_client(issuer: LiveIssuer) -> None:
    """draft-ietf-oauth-status-list-18 §5.1 checked by a client no one here wrote."""
    token = issuer.access_token()
    uri, idx = entry(token)["uri"], entry(token)["idx"]
    response = httpx.get(uri, headers={"Accept": "application/statuslist+jwt"})
    assert response.headers["content-type"] == "application/statuslist+jwt"
    list_token = response.text
    assert jwt.get_unverified_header(list_token)["typ"] == "statuslist+jwt"
    keys = jwt.PyJWKClient(f"{issuer.base_url}/.well-known/jwks.json")
    claims = jwt.decode(
        list_token,
        keys.get_signing_key_from_jwt(list_token).key,
        algorithms=["RS256"],
        issuer=issuer.base_url,
        options={"require": ["sub", "iat", "exp", "ttl", "status_list"]},
    )
    assert claims["sub"] == uri and claims["ttl"] == TTL_S
    array = bits.decode(claims["status_list"]["lst"])
    assert bits.status_at(array, idx) == bits.VALID

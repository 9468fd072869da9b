"""The key lifecycle in running servers: scheduled rotation by one of two workers, and an
emergency `keys revoke` that takes a key out of the JWKS at once (docs/keys.md)."""

import json
import threading
import time
from contextlib import ExitStack
from datetime import datetime
from itertools import pairwise
from pathlib import Path

import httpx
import jwt
import pytest

from authserver.db import Database
from authserver.resource import InvalidToken, Verifier
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import SERVICE_AUDIENCE, make_client
from tests.flows import service_token

pytestmark = [pytest.mark.e2e, pytest.mark.alone]

INTERVAL_S = 2


@pytest.fixture
def service(database: Database) -> tuple[str, str]:
    client, secret = make_client(database, can_introspect=True)
    assert secret is not None
    return client.client_id, secret


def jwks_kids(base_url: str) -> list[str]:
    return [key["kid"] for key in httpx.get(f"{base_url}/.well-known/jwks.json").json()["keys"]]


def test_two_workers_rotate_on_schedule_once_per_interval_and_every_token_verifies(
    database: Database, keys_dir: Path, service: tuple[str, str]
) -> None:
    environment = cli_environment(
        database.url,
        keys_dir,
        AUTHSERVER_KEYS_ROTATION_INTERVAL=str(INTERVAL_S),
        AUTHSERVER_JWKS_MAX_AGE="1",
        AUTHSERVER_KEYS_RELOAD_INTERVAL="0",
        AUTHSERVER_KEYS_PUBLISH_BEFORE_USE="1",
    )
    smallest_jwks, failures, verified = 99, 0, 0
    with ExitStack() as stack, running_server(environment, "--workers", "2") as base_url:
        # Two resource services, each with its own cache (authserver.resource), and a
        # third with PyJWT's client: none may ever reject a valid token.
        # Default settings: once the JWKS max-age (1 s here) has passed, the issuer's pace
        # applies, not the verifier's 60 s refetch limit.
        services = [stack.enter_context(Verifier(base_url, SERVICE_AUDIENCE)) for _ in range(2)]
        pyjwt = jwt.PyJWKClient(f"{base_url}/.well-known/jwks.json", lifespan=1)
        deadline = time.monotonic() + 4 * INTERVAL_S + 2
        while time.monotonic() < deadline:
            smallest_jwks = min(smallest_jwks, len(jwks_kids(base_url)))
            fresh = service_token(base_url, service)
            for verifier in services:
                try:
                    verifier.verify(fresh)
                    verified += 1
                except InvalidToken:
                    failures += 1
            try:
                key = pyjwt.get_signing_key_from_jwt(fresh)
                jwt.decode(fresh, key, algorithms=["RS256"], audience=SERVICE_AUDIENCE)
                verified += 1
            except jwt.PyJWTError:
                failures += 1
            time.sleep(0.05)
    keys = json.loads(run_cli(environment, "keys", "list", "--json").stdout)
    activations = sorted(
        datetime.fromisoformat(k["activated_at"]) for k in keys if k["activated_at"]
    )
    gaps = [(b - a).total_seconds() for a, b in pairwise(activations)]
    print(
        f"{verified} verifications of fresh tokens, {failures} failed, across {len(gaps)} rotations"
    )
    assert len(gaps) >= 2, keys  # it did rotate by itself, several times
    # One rotation per interval, not one per worker: the database lease lets one through.
    assert min(gaps) >= INTERVAL_S - 0.1, gaps
    assert smallest_jwks >= 2  # current and next were always published
    assert failures == 0


def test_an_emergency_revoke_takes_the_key_out_of_the_jwks_and_kills_its_tokens(
    database: Database, keys_dir: Path, service: tuple[str, str]
) -> None:
    environment = cli_environment(
        database.url, keys_dir, AUTHSERVER_KEYS_RELOAD_INTERVAL="0", AUTHSERVER_JWKS_MAX_AGE="1"
    )
    with ExitStack() as stack, running_server(environment) as base_url:
        doomed = service_token(base_url, service)
        verifier = stack.enter_context(
            Verifier(base_url, SERVICE_AUDIENCE, min_refetch_interval=0.5)
        )
        assert verifier.verify(doomed)["jti"]
        kid = jwt.get_unverified_header(doomed)["kid"]
        introspect = {"token": doomed}
        assert httpx.post(f"{base_url}/introspect", data=introspect, auth=service).json()["active"]
        result = run_cli(environment, "keys", "revoke", kid, "--json")
        assert result.returncode == 0, result.stderr
        assert "signs from now on" in result.stderr  # the current key was revoked
        watched: list[list[str]] = []
        stop = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                watched.append(jwks_kids(base_url))

        watcher = threading.Thread(target=watch)
        watcher.start()
        time.sleep(0.5)
        stop.set()
        watcher.join()
        assert kid not in jwks_kids(base_url)
        assert all(len(kids) >= 2 for kids in watched)  # never empty, not even for a moment
        after = httpx.post(f"{base_url}/introspect", data=introspect, auth=service).json()
        assert after == {"active": False}
        # The verifier drops the key at its next refetch (its JWKS cache expired by now).
        time.sleep(1.1)
        with pytest.raises(InvalidToken):
            verifier.verify(doomed)
        replacement = service_token(base_url, service)
        assert verifier.verify(replacement)["jti"]
        assert jwt.get_unverified_header(replacement)["kid"] == json.loads(result.stdout)["current"]
    unknown = run_cli(environment, "keys", "revoke", "no-such-kid-0123456789")
    assert unknown.returncode == 1
    # A kid may begin with "-" (base64url): still a kid, not an option.
    dashed = run_cli(environment, "keys", "revoke", "-no-such-kid-0123456789")
    assert dashed.returncode == 1, dashed.stderr
    assert "no signing key" in dashed.stderr

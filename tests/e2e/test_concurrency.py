"""Races against a real server with two workers on PostgreSQL (SECURITY-CHECKLIST test 4).

Each round starts a fresh token family, then fires N identical requests at once (a
barrier releases the threads together) and checks the outcome the RFCs demand.
"""

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from authserver.clients.models import DEVICE_CODE
from authserver.db import Database
from authserver.login.throttle import FREE_ATTEMPTS_PER_ACCOUNT
from authserver.tokens.models import TokenFamily
from tests.conftest import database_for_a_test
from tests.e2e.processes import cli_environment, running_server
from tests.factories import make_client, make_user, make_web_app
from tests.flows import (
    Pkce,
    approve_device,
    code_of,
    csrf_token_of,
    extra_attempts_within,
    grant_for,
    sign_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgresql, pytest.mark.alone]

ROUNDS = 20
PARALLEL = 20


@pytest.fixture
def pg_database(postgresql_url: str) -> Iterator[Database]:
    yield from database_for_a_test(postgresql_url)


class Setup:
    def __init__(self, database: Database) -> None:
        client, secret = make_web_app(database, skip_consent=True)
        introspector, introspector_secret = make_client(database, can_introspect=True)
        assert secret is not None and introspector_secret is not None
        make_user(database)
        self.client_id, self.secret = client.client_id, secret
        self.introspector = (introspector.client_id, introspector_secret)


Action = Callable[[httpx.Client], httpx.Response]


def at_once(actions: list[Action], base_url: str) -> list[httpx.Response]:
    """Run each action in its own thread, all released together; responses in any order."""
    barrier = threading.Barrier(len(actions))
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def run(action: Action) -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            barrier.wait()
            response = action(client)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=run, args=(action,)) for action in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def new_family(browser: httpx.Client, setup: Setup) -> dict[str, Any]:
    return grant_for(browser, setup.client_id, setup.secret).body


def refresh(setup: Setup, refresh_token: str) -> Callable[[httpx.Client], httpx.Response]:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return lambda client: client.post("/token", data=data, auth=(setup.client_id, setup.secret))


def parallel_refreshes(
    base_url: str, browser: httpx.Client, setup: Setup
) -> Iterator[list[httpx.Response]]:
    """ROUNDS times: a fresh family, then PARALLEL refreshes of its refresh token at once."""
    for _ in range(ROUNDS):
        family = new_family(browser, setup)
        yield at_once([refresh(setup, family["refresh_token"])] * PARALLEL, base_url)


def active(client: httpx.Client, setup: Setup, token: str) -> bool:
    response = client.post("/introspect", data={"token": token}, auth=setup.introspector)
    return bool(response.json()["active"])


def statuses(responses: list[httpx.Response]) -> list[int]:
    return sorted(response.status_code for response in responses)


@pytest.fixture
def environment(pg_database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(pg_database.url, keys_dir)


@contextmanager
def two_workers(environment: dict[str, str]) -> Iterator[tuple[str, httpx.Client]]:
    """(base_url, browser): a server with two workers, and a client with cookies for it."""
    with (
        running_server(environment, "--workers", "2") as base_url,
        httpx.Client(base_url=base_url) as browser,
    ):
        yield base_url, browser


def test_of_parallel_refreshes_with_one_token_exactly_one_wins_and_the_family_dies(
    pg_database: Database, environment: dict[str, str]
) -> None:
    setup = Setup(pg_database)
    with two_workers(environment) as (base_url, browser):
        for responses in parallel_refreshes(base_url, browser, setup):
            # RFC 9700 §4.14.2: one rotation; every other use is a reuse.
            assert statuses(responses) == [200] + [400] * (PARALLEL - 1)
            assert all(
                r.json()["error"] == "invalid_grant" for r in responses if r.status_code == 400
            )
            winner = next(r.json() for r in responses if r.status_code == 200)
            # The reuse revoked the family: the winner's new tokens are dead too.
            assert not active(browser, setup, winner["refresh_token"])
            assert not active(browser, setup, winner["access_token"])


def test_with_grace_parallel_duplicates_let_one_through_and_leave_the_family_alone(
    pg_database: Database, keys_dir: Path
) -> None:
    setup = Setup(pg_database)
    environment = cli_environment(pg_database.url, keys_dir, AUTHSERVER_REFRESH_REUSE_GRACE="30")
    with two_workers(environment) as (base_url, browser):
        for responses in parallel_refreshes(base_url, browser, setup):
            assert statuses(responses) == [200] + [400] * (PARALLEL - 1)
            winner = next(r.json() for r in responses if r.status_code == 200)
            # Duplicates of a request in flight are not theft under grace.
            assert active(browser, setup, winner["refresh_token"])
            assert refresh(setup, winner["refresh_token"])(browser).status_code == 200


def test_a_refresh_racing_a_revocation_never_outlives_it(
    pg_database: Database, environment: dict[str, str]
) -> None:
    setup = Setup(pg_database)
    with two_workers(environment) as (base_url, browser):
        for _ in range(ROUNDS):
            family = new_family(browser, setup)
            token = family["refresh_token"]
            revoke_data = {"token": token, "token_type_hint": "refresh_token"}

            def revoke(client: httpx.Client, data: dict[str, str] = revoke_data) -> httpx.Response:
                return client.post("/revoke", data=data, auth=(setup.client_id, setup.secret))

            # One refresh only: several would trip reuse detection and prove nothing here.
            responses = at_once([revoke, refresh(setup, token)], base_url)
            assert all(r.status_code in (200, 400) for r in responses), statuses(responses)
            minted = [r.json() for r in responses if "refresh_token" in r.json()]
            # RFC 7009 §2.2: after revocation nothing of the family is usable.
            for tokens in [family, *minted]:
                assert not active(browser, setup, tokens["refresh_token"])
                assert not active(browser, setup, tokens["access_token"])


def test_of_parallel_redemptions_of_one_code_one_wins_and_then_its_tokens_are_revoked(
    pg_database: Database, environment: dict[str, str]
) -> None:
    setup = Setup(pg_database)
    with two_workers(environment) as (base_url, browser):
        for _ in range(ROUNDS):
            pkce = Pkce()
            code = code_of(browser, setup.client_id, pkce)
            data = {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": "https://app.example.test/callback",
                "code_verifier": pkce.verifier,
            }

            def redeem(client: httpx.Client, data: dict[str, str] = data) -> httpx.Response:
                return client.post("/token", data=data, auth=(setup.client_id, setup.secret))

            responses = at_once([redeem] * PARALLEL, base_url)
            assert statuses(responses) == [200] + [400] * (PARALLEL - 1)
            winner = next(r.json() for r in responses if r.status_code == 200)
            # RFC 6749 §4.1.2: the replays revoked what the code gave.
            assert not active(browser, setup, winner["access_token"])
            assert not active(browser, setup, winner["refresh_token"])


def test_parallel_password_guesses_stay_within_the_throttle(
    pg_database: Database, environment: dict[str, str]
) -> None:
    make_user(pg_database)
    with two_workers(environment) as (base_url, browser):
        page = browser.get("/login")
        form = {"csrf_token": csrf_token_of(page.text), "username": "alice", "password": "guess"}
        cookies = dict(browser.cookies)

        def guess(client: httpx.Client) -> httpx.Response:
            client.cookies.update(cookies)
            return client.post("/login", data=form)

        started = time.monotonic()
        responses = at_once([guess] * PARALLEL, base_url)
        seconds = time.monotonic() - started
    # SECURITY-CHECKLIST: the attempt is reserved atomically before argon2 runs, so a
    # burst cannot slip more guesses through than the free attempts, plus those the
    # growing delay lets through if the burst is spread over seconds (a loaded machine).
    # A 503 (every argon2 slot busy) is an attempt turned away unheard and given back.
    verified = [r for r in responses if r.status_code == 200]
    throttled = [r for r in responses if r.status_code == 429]
    assert {r.status_code for r in responses} <= {200, 429, 503}
    assert len(verified) <= FREE_ATTEMPTS_PER_ACCOUNT + extra_attempts_within(seconds)
    assert throttled, "no guess of the burst was throttled"
    assert all("Retry-After" in r.headers for r in throttled)


def test_of_parallel_polls_of_one_approved_device_code_one_gets_the_tokens(
    pg_database: Database, environment: dict[str, str]
) -> None:
    """RFC 8628 §3.5 with a device polling from several connections at once: the
    approved authorization is consumed by one conditional UPDATE, so exactly one poll
    gets tokens, and one family exists for it."""
    device, _ = make_client(
        pg_database, name="TV", grant_types=[DEVICE_CODE], scope="openid", public=True
    )
    make_user(pg_database)
    with two_workers(environment) as (base_url, browser):
        assert sign_in(browser).status_code == 303
        for _ in range(ROUNDS // 2):
            codes = browser.post(
                "/device_authorization", data={"client_id": device.client_id}
            ).json()
            assert approve_device(browser, codes["user_code"]).status_code == 200
            data = {
                "grant_type": DEVICE_CODE,
                "device_code": codes["device_code"],
                "client_id": device.client_id,
            }

            def poll(client: httpx.Client, data: dict[str, str] = data) -> httpx.Response:
                return client.post("/token", data=data)

            responses = at_once([poll] * PARALLEL, base_url)
            assert statuses(responses) == [200] + [400] * (PARALLEL - 1)
            assert {r.json()["error"] for r in responses if r.status_code == 400} == {
                "invalid_grant"
            }
    with pg_database.transaction() as db:
        families = db.exec(select(TokenFamily).where(TokenFamily.client_id == device.client_id))
        assert len(families.all()) == ROUNDS // 2

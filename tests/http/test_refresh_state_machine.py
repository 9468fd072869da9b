"""The refresh token state machine under random sequences (RFC 6749 §6, RFC 9700 §4.14.2).

Hypothesis drives the real app (FastAPI TestClient, a migrated database, two browsers of one
user) with any sequence of: a new code flow, a refresh with a family's newest token, a
refresh with any token handed out (a replay when it was rotated), a revocation of a refresh
or an access token (RFC 7009), a replay of the code (RFC 6749 §4.1.2), time passing past
the idle or the absolute expiry, and RP-Initiated Logout with the family's id_token as hint.
A model says which tokens must be alive. After every step, introspection (RFC 7662) by a
resource service must agree with it: at most one active refresh token per family, a dead
token never active again, the access tokens of a revoked family inactive, and every refresh
with a dead token `invalid_grant` (RFC 6749 §5.2).

Time: the server reads the clock in `authserver.clock.utcnow` and compares it with the
moments it stored. Letting time pass for a family moves every stored moment of the family
back by the same amount (its start and absolute expiry; each refresh token's minting, idle
expiry and consumption), as the expiry tests of test_token_refresh.py do with single rows:
to the server, a family that has lived that much longer, and no real sleep. (A patched
clock would have to reach every module that imports `utcnow` and the JWT checks that read
`time.time()`, and would age the sign-in sessions too.) Access tokens are JWTs whose `exp`
cannot be moved; an expired but unrevoked family's access tokens live out their own `exp`
by design (tokens/validity.py), so the model says nothing of them.

AUTHSERVER_REFRESH_REUSE_GRACE is 0 (the default) throughout. With a grace, a replay of the
live token's immediate predecessor within the grace, arriving at least 1 s after its
successor was minted, would be forgiven once (the unreceived successor consumed, a fresh
token minted, the family kept), and one arriving sooner refused without revoking the
family: the outcome would hang on wall time, which this machine does not model.
test_token_refresh.py covers the grace.
"""

import os
from collections import Counter
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlmodel import select

from authserver.app import create_app
from authserver.db import Database
from authserver.opaque import opaque_hash
from authserver.tokens.models import RefreshToken, TokenFamily
from tests.conftest import ISSUER, make_settings
from tests.factories import WEB_APP_LOGOUT_URI, make_client, make_user, make_web_app
from tests.flows import Pkce, code_of, exchange_code
from tests.http.tokens import assert_oauth_error, basic

# Family lifetimes, in the seconds that `let_time_pass` adds. Every sum of steps stays at
# least 100 s away from both limits, so the seconds a run really takes never decide.
IDLE_SECONDS = 600
ABSOLUTE_SECONDS = 1700
AGING_STEPS = (400, 700)
BROWSERS = 2
MAX_FAMILIES = 3
# Sized for the whole file, SQLite and PostgreSQL, to run in about half a minute; set
# REFRESH_MACHINE_EXAMPLES (e.g. 300) for a deeper search by hand.
EXAMPLES = int(os.environ.get("REFRESH_MACHINE_EXAMPLES", "12"))
STEPS = 14


@dataclass(eq=False)
class Browser:
    number: int
    # The TestClient's cookies while this browser is not the one sending.
    cookies: MutableMapping[str, str] = field(default_factory=dict)
    session: int | None = None  # the sign-in this browser is in, numbered by the model


@dataclass(eq=False)
class IssuedRefreshToken:
    value: str = field(repr=False)
    born: int  # the family's age, in seconds, when it was minted
    consumed: bool = False


@dataclass(eq=False)
class IssuedAccessToken:
    value: str = field(repr=False)
    denied: bool = False  # revoked by itself at /revoke


@dataclass(eq=False)
class Family:
    """One authorization as the model sees it: what one code gave, and its rotations."""

    number: int
    family_id: str
    session: int
    code: str
    verifier: str
    id_token: str
    age: int = 0
    revoked: bool = False
    refresh_tokens: list[IssuedRefreshToken] = field(default_factory=list)
    access_tokens: list[IssuedAccessToken] = field(default_factory=list)

    @property
    def newest(self) -> IssuedRefreshToken:
        return self.refresh_tokens[-1]

    def expired(self, token: IssuedRefreshToken) -> bool:
        # Idle expiry counts from the token's minting, never past the family's (families.py).
        return self.age >= min(token.born + IDLE_SECONDS, ABSOLUTE_SECONDS)

    def is_live(self, token: IssuedRefreshToken) -> bool:
        return token is self.newest and not (token.consumed or self.revoked or self.expired(token))

    @property
    def has_a_live_token(self) -> bool:
        return self.is_live(self.newest)

    def __repr__(self) -> str:
        state = "revoked" if self.revoked else "live" if self.has_a_live_token else "expired"
        return f"<family {self.number}, {state}, age {self.age} s, {self.refresh_tokens}>"


@dataclass(frozen=True, eq=False)
class Issued:
    """One token response, the bundle's values: a family's refresh and access token."""

    family: Family
    refresh_token: IssuedRefreshToken
    access_token: IssuedAccessToken


@dataclass(frozen=True)
class WebApp:
    """One confidential web app's calls, and a resource service's view of any token."""

    http: TestClient
    client_id: str
    secret: str
    introspector: tuple[str, str]

    def refresh(self, token: str) -> Response:
        data = {"grant_type": "refresh_token", "refresh_token": token}
        return self.http.post("/token", data=data, headers=basic(self.client_id, self.secret))

    def redeem(self, code: str, verifier: str) -> Response:
        return exchange_code(self.http, self.client_id, self.secret, code, verifier)

    def revoke(self, token: str, hint: str) -> Response:
        data = {"token": token, "token_type_hint": hint}
        return self.http.post("/revoke", data=data, headers=basic(self.client_id, self.secret))

    def is_active(self, token: str) -> bool:
        auth = basic(*self.introspector)
        response = self.http.post("/introspect", data={"token": token}, headers=auth)
        assert response.status_code == 200, response.text
        return bool(response.json()["active"])


@dataclass
class World:
    """What every example shares: the app, its database, the introspecting service."""

    http: TestClient
    database: Database
    introspector: tuple[str, str]
    tally: Counter[str] = field(default_factory=Counter)  # outcomes seen over all examples

    def new_web_app(self) -> WebApp:
        client, secret = make_web_app(self.database)
        assert secret is not None
        return WebApp(self.http, client.client_id, secret, self.introspector)


class RefreshStateMachine(RuleBasedStateMachine):
    """Each example: a new web app, two browsers of the signed-up user, and the model."""

    issued = Bundle("issued")

    def __init__(self, world: World) -> None:
        super().__init__()
        self.world, self.app = world, world.new_web_app()
        self.browsers = [Browser(number) for number in range(BROWSERS)]
        self.families: list[Family] = []
        self.dead: set[str] = set()  # every token the model has seen die
        self.sign_ins = count(1)

    # --- rules ------------------------------------------------------------------------

    @initialize(target=issued)
    def start_the_first_family(self) -> Issued:
        return self._start_family(self.browsers[0])

    @precondition(lambda self: len(self.families) < MAX_FAMILIES)
    @rule(target=issued, browser=st.integers(0, BROWSERS - 1))
    def start_a_family(self, browser: int) -> Issued:
        return self._start_family(self.browsers[browser])

    @rule(target=issued, grant=issued, times=st.integers(1, 3))
    def refresh_with_the_newest_token(self, grant: Issued, times: int) -> MultipleResults[Issued]:
        """`times` times in a row, as a client does that keeps using its grant."""
        issued = []
        for _ in range(times):
            refreshed = self._refresh(grant.family, grant.family.newest)
            issued.extend(refreshed.values)
        return multiple(*issued)

    @rule(target=issued, grant=issued)
    def refresh_with_this_token(self, grant: Issued) -> MultipleResults[Issued]:
        """A replay when the token was rotated since."""
        return self._refresh(grant.family, grant.refresh_token)

    @rule(grant=issued)
    def revoke_the_access_token(self, grant: Issued) -> None:
        response = self.app.revoke(grant.access_token.value, "access_token")
        # RFC 7009 §2.1: an access token deny-lists its own jti, and nothing else.
        assert response.status_code == 200, response.text
        grant.access_token.denied = True

    @rule(grant=issued, how=st.sampled_from(["revoke the refresh token", "replay the code"]))
    def end_the_grant(self, grant: Issued, how: str) -> None:
        if how == "replay the code":
            response = self.app.redeem(grant.family.code, grant.family.verifier)
            # RFC 6749 §4.1.2: a code used twice is refused and its tokens are revoked.
            assert_oauth_error(response, 400, "invalid_grant")
        else:
            response = self.app.revoke(grant.refresh_token.value, "refresh_token")
            # RFC 7009 §2.1: 200, and a refresh token ends its grant, access tokens
            # included (SECURITY-CHECKLIST: /revoke), whatever its own state.
            assert response.status_code == 200, response.text
        grant.family.revoked = True

    @rule(grant=issued, seconds=st.sampled_from(AGING_STEPS))
    def let_time_pass(self, grant: Issued, seconds: int) -> None:
        family = grant.family
        was_expired = family.expired(family.newest)
        age_family(self.world.database, family.family_id, timedelta(seconds=seconds))
        family.age += seconds
        if family.expired(family.newest) and not was_expired:
            which = "absolute" if family.age >= ABSOLUTE_SECONDS else "idle"
            self.world.tally[f"aged past the {which} expiry"] += 1

    @rule(grant=issued, browser=st.integers(0, BROWSERS - 1))
    def log_out_with_the_id_token_hint(self, grant: Issued, browser: int) -> None:
        family, sender = grant.family, self.browsers[browser]
        params = {
            "id_token_hint": family.id_token,
            "post_logout_redirect_uri": WEB_APP_LOGOUT_URI,
            "state": "bye",
        }
        with self._as(sender):
            response = self.app.http.get("/logout", params=params, follow_redirects=False)
        if sender.session is not None and sender.session != family.session:
            # RP-Initiated Logout §2: the hint names another sign-in, so the user confirms.
            assert response.status_code == 200, response.text
            assert 'name="decision" value="logout"' in response.text
            self.world.tally["logout asked to confirm"] += 1
            return
        # RP-Initiated Logout §3: to the registered URI; the session, if any, ended with
        # every family it gave out (CONTRACT.md: /logout).
        assert response.status_code == 303, response.text
        assert response.headers["location"] == f"{WEB_APP_LOGOUT_URI}?state=bye"
        if sender.session is not None:
            self._end_session(sender.session)
            self.world.tally["logout ended a session"] += 1

    def _end_session(self, session: int | None) -> None:
        """The session ends: every family it gave out, and no browser is signed in by it."""
        if session is None:
            return
        for each in self.families:
            each.revoked |= each.session == session
        for browser in self.browsers:
            if browser.session == session:
                browser.session = None

    # --- the invariant ----------------------------------------------------------------

    @invariant()
    def introspection_agrees_with_the_model(self) -> None:
        for family in self.families:
            active = [t for t in family.refresh_tokens if self.app.is_active(t.value)]
            # RFC 9700 §4.14.2: rotation leaves at most one usable token per family.
            assert len(active) <= 1, f"{len(active)} active refresh tokens in {family}"
            for number, token in enumerate(family.refresh_tokens):
                assert token.value not in self.dead or token not in active, (
                    f"refresh token {number} came back to life in {family}"
                )
                live = family.is_live(token)
                assert (token in active) == live, f"refresh token {number} in {family}"
                if not live:
                    self.dead.add(token.value)
            for number, access_token in enumerate(family.access_tokens):
                self._check_access_token(family, number, access_token)

    def _check_access_token(self, family: Family, number: int, token: IssuedAccessToken) -> None:
        if family.revoked or token.denied:
            self.dead.add(token.value)
        if token.value in self.dead:
            # RFC 7009 §2.1 (revoked with its grant, or alone), RFC 7662 §2.2: inactive.
            assert not self.app.is_active(token.value), f"access token {number} in {family}"
        elif family.has_a_live_token:
            assert self.app.is_active(token.value), f"access token {number} in {family}"

    # --- steps ------------------------------------------------------------------------

    def _start_family(self, browser: Browser) -> Issued:
        pkce = Pkce()
        with self._as(browser):
            code = code_of(self.app.http, self.app.client_id, pkce, scope="openid profile")
        if browser.session is None:  # the code flow signed in afresh
            browser.session = next(self.sign_ins)
        response = self.app.redeem(code, pkce.verifier)
        assert response.status_code == 200, response.text
        body = response.json()
        family = Family(
            number=len(self.families),
            family_id=family_id_of(self.world.database, body["refresh_token"]),
            session=browser.session,
            code=code,
            verifier=pkce.verifier,
            id_token=body["id_token"],
        )
        self.families.append(family)
        return self._issue(family, body)

    def _refresh(self, family: Family, token: IssuedRefreshToken) -> MultipleResults[Issued]:
        response = self.app.refresh(token.value)
        if family.is_live(token):
            # RFC 6749 §6, RFC 9700 §4.14.2: the token is rotated.
            assert response.status_code == 200, response.text
            token.consumed = True
            self.world.tally["refresh rotated"] += 1
            return multiple(self._issue(family, response.json()))
        # RFC 6749 §5.2: a used, revoked or expired token is invalid_grant, as JSON.
        assert_oauth_error(response, 400, "invalid_grant")
        if not token.consumed or family.revoked or family.age >= ABSOLUTE_SECONDS:
            self.world.tally["refused: family revoked or expired"] += 1
        else:
            # RFC 9700 §4.14.2: a rotated token presented again revokes the family, even
            # past its own idle expiry, or its successor's (both found by this machine:
            # the family lives on until its absolute expiry); and it ends the sign-in
            # session the family came from, with every family of it (back-channel logout,
            # docs/revocation.md), so a browser of that session signs in afresh.
            family.revoked = True
            self._end_session(family.session)
            self.world.tally["refused: reuse revoked the family"] += 1
        return multiple()

    def _issue(self, family: Family, body: dict[str, Any]) -> Issued:
        refresh_token = IssuedRefreshToken(body["refresh_token"], born=family.age)
        access_token = IssuedAccessToken(body["access_token"])
        family.refresh_tokens.append(refresh_token)
        family.access_tokens.append(access_token)
        return Issued(family, refresh_token, access_token)

    @contextmanager
    def _as(self, browser: Browser) -> Iterator[None]:
        """Send from `browser`: its cookies in, and back out with what the server set."""
        http = self.app.http
        http.cookies = browser.cookies  # type: ignore[assignment]
        try:
            yield
        finally:
            browser.cookies = http.cookies
            http.cookies = {}  # type: ignore[assignment]


def family_id_of(database: Database, refresh_token: str) -> str:
    with database.transaction() as session:
        stored = session.get(RefreshToken, opaque_hash(refresh_token))
        assert stored is not None
        return stored.family_id


def age_family(database: Database, family_id: str, by: timedelta) -> None:
    """Move every moment stored for the family back by `by`: it has lived that much longer."""
    with database.transaction() as session:
        family = session.get(TokenFamily, family_id)
        assert family is not None
        family.created_at -= by
        family.expires_at -= by
        members = session.exec(select(RefreshToken).where(RefreshToken.family_id == family_id))
        for member in members:
            member.created_at -= by
            member.expires_at -= by
            if member.consumed_at is not None:
                member.consumed_at -= by


@pytest.fixture
def world(database: Database, keys_dir: Path) -> Iterator[World]:
    settings = make_settings(
        database_url=database.url,
        keys_dir=keys_dir,
        client_cache_ttl=0,
        client_rate_limit="0",  # hundreds of introspections a second are the point here
        refresh_token_ttl=timedelta(seconds=ABSOLUTE_SECONDS),
        refresh_token_idle_ttl=timedelta(seconds=IDLE_SECONDS),
        refresh_reuse_grace=timedelta(0),
    )
    introspector, introspector_secret = make_client(database, can_introspect=True)
    assert introspector_secret is not None
    make_user(database)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        yield World(http, database, (introspector.client_id, introspector_secret))


def test_no_sequence_of_refresh_reuse_revoke_expiry_and_logout_revives_a_token(
    world: World,
) -> None:
    """At most one active refresh token per family, and what died stays dead, whatever
    happens in between (RFC 9700 §4.14.2, RFC 7009 §2.1, RFC 7662 §2.2)."""
    run_state_machine_as_test(
        lambda: RefreshStateMachine(world),
        settings=hypothesis_settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # no saved examples: each run searches afresh (CI: derandomized)
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
    print(f"outcomes: {dict(world.tally)}")  # with -s, to see what a (deeper) run covered


def test_a_rotated_token_replayed_after_its_idle_expiry_still_revokes_the_family(
    world: World,
) -> None:
    """RFC 9700 §4.14.2: a thief rotated the token first; the client comes back after the
    idle TTL with the token it holds, now consumed. That is the breach the rule detects,
    so the thief's live token must die, however old the replayed one is."""
    machine = RefreshStateMachine(world)
    stolen = machine.start_the_first_family()
    machine.let_time_pass(stolen, 400)
    (thief,) = machine.refresh_with_this_token(stolen).values
    machine.let_time_pass(stolen, 400)  # 800 s: past the stolen token's idle expiry (600 s)
    assert machine.app.is_active(thief.refresh_token.value)  # minted 400 s ago: alive
    assert_oauth_error(machine.app.refresh(stolen.refresh_token.value), 400, "invalid_grant")
    assert not machine.app.is_active(thief.refresh_token.value)
    assert not machine.app.is_active(thief.access_token.value)

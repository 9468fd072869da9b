"""Sign-in with an upstream OpenID provider (http/upstream.py), on both databases.

The upstream is real: a second `authserver serve` (its own database and keys) with a
user and a confidential client, shared by the module; a person signs in there with
their own cookies. The id_tokens a real provider never issues (another audience,
another issuer, a foreign key, an e-mail it vouches for) come from `upstream_stub`, a
provider on a real loopback port whose keys the test holds.
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from joserfc.jwk import RSAKey
from sqlmodel import select, update

from authserver.app import create_app
from authserver.audit.models import AuditEvent
from authserver.clock import utcnow
from authserver.db import Database
from authserver.errors import ConfigurationError
from authserver.factors.totp import begin_enrolment, confirm_enrolment
from authserver.housekeeping import purge_expired
from authserver.login.models import LoginSession
from authserver.sealing import Sealer
from authserver.settings import Settings
from authserver.upstream.configuration import (
    ProviderSpec,
    add_provider,
    configure_from_settings,
    spec_from_settings,
    validate,
)
from authserver.upstream.metadata import MIN_REFETCH_SECONDS, MetadataCache
from authserver.upstream.models import UpstreamLink, UpstreamProvider, UpstreamRequest
from authserver.upstream.signin import CALLBACK_PATH
from authserver.users.models import User
from authserver.users.passwords import PasswordHashing
from tests.conftest import ISSUER, copy_of_template_keys, make_settings, migrated_sqlite
from tests.e2e.processes import cli_environment, run_cli, running_server
from tests.factories import make_user
from tests.flows import answer_consent, csrf_token_of, path_after_login, sign_in
from tests.http import upstream_stub
from tests.http.tokens import sign_hs256, unsigned
from tests.http.upstream_stub import StubProvider, stub_provider

pytestmark = pytest.mark.e2e

PASSWORD = "correct horse battery staple"
SESSION_COOKIE = "authserver_session"
PENDING_COOKIE = "authserver_pending"


@dataclass(frozen=True)
class Upstream:
    base_url: str
    client_id: str
    client_secret: str


@pytest.fixture(scope="module")
def upstream(
    tmp_path_factory: pytest.TempPathFactory, template_keys_dir: Path
) -> Iterator[Upstream]:
    """Our own server as the provider: carol, and a client whose redirect URI is ours."""
    directory = tmp_path_factory.mktemp("upstream")
    migrated_sqlite(directory).dispose()
    keys_dir = copy_of_template_keys(template_keys_dir, directory)
    environment = cli_environment(f"sqlite:///{directory / 'authserver.db'}", keys_dir)
    for username in ("carol", "dora"):  # dora only ever refuses
        user = run_cli(
            environment, "users", "create", "--username", username,
            "--email", f"{username}@example.test", "--password-stdin", stdin=PASSWORD + "\n",
        )  # fmt: skip
        assert user.returncode == 0, user.stderr
    created = run_cli(
        environment, "clients", "create", "--name", "Downstream",
        "--grant-type", "authorization_code", "--redirect-uri", ISSUER + CALLBACK_PATH,
        "--scope", "openid profile email", "--json",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    client = json.loads(created.stdout)
    with running_server(environment) as base_url:
        yield Upstream(base_url, client["client_id"], client["client_secret"])


@pytest.fixture(scope="module")
def stub() -> Iterator[StubProvider]:
    with stub_provider() as provider:
        yield provider


@pytest.fixture
def provider(database: Database, upstream: Upstream, settings: Settings) -> UpstreamProvider:
    return add(database, settings, upstream.base_url, upstream.client_id, upstream.client_secret)


@pytest.fixture
def stub_app(database: Database, stub: StubProvider, settings: Settings) -> FastAPI:
    stub.reset()
    add(database, settings, stub.base_url, upstream_stub.CLIENT_ID, upstream_stub.CLIENT_SECRET)
    return create_app(settings)


@pytest.fixture
def browser(stub_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(stub_app, base_url=ISSUER) as client:
        yield client


def add(
    database: Database, settings: Settings, issuer: str, client_id: str, secret: str, **options: Any
) -> UpstreamProvider:
    spec = validate(
        ProviderSpec(issuer, client_id, secret, "up", "Upstream Test", **options), development=True
    )
    with database.transaction() as db:
        return add_provider(db, Sealer(None), spec)


def begin(http: TestClient, next_path: str | None = None) -> Response:
    """Click "Continue with Upstream Test" on the login page; not followed."""
    # With a `next`, the login form shows even to a signed-in browser.
    login = http.get("/login", params={"next": "/"})
    form = {"csrf_token": csrf_token_of(login.text), **({"next": next_path} if next_path else {})}
    return http.post("/login/upstream/up/start", data=form, follow_redirects=False)


def answer_at_upstream(
    upstream: Upstream, authorization_url: str, decision: str = "approve", username: str = "carol"
) -> str:
    """The person signs in at the upstream and answers its consent page if shown; the
    URL the upstream sends their browser back to."""
    with httpx.Client(base_url=upstream.base_url, timeout=10.0) as person:
        to_login = person.get(authorization_url, follow_redirects=False)
        signed_in = sign_in(person, username, PASSWORD, next_path=path_after_login(to_login))
        answer = person.get(signed_in.headers["location"], follow_redirects=False)
        if answer.status_code == 200:
            answer = answer_consent(person, answer, decision)
    assert answer.status_code in (302, 303), answer.text[:300]
    return answer.headers["location"]


def come_back(http: TestClient, callback_url: str) -> Response:
    assert callback_url.startswith(ISSUER + CALLBACK_PATH), callback_url
    return http.get(callback_url.removeprefix(ISSUER), follow_redirects=False)


def sign_in_upstream(
    http: TestClient, upstream: Upstream, next_path: str | None = None
) -> Response:
    started = begin(http, next_path)
    assert started.status_code == 303, started.text
    return come_back(http, answer_at_upstream(upstream, started.headers["location"]))


def assert_page(response: Response, status: int, text: str) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert text in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


def users(database: Database) -> list[User]:
    with database.reading() as db:
        return list(db.exec(select(User).order_by(User.id)).all())


def links(database: Database) -> list[UpstreamLink]:
    with database.reading() as db:
        return list(db.exec(select(UpstreamLink)).all())


def events(database: Database, name: str) -> list[dict[str, Any]]:
    with database.reading() as db:
        rows = db.exec(select(AuditEvent).where(AuditEvent.event == name)).all()
        return [{"user_id": r.user_id, **json.loads(r.details)} for r in rows]


# The real upstream ------------------------------------------------------------


def test_the_login_page_offers_each_provider_as_a_button(
    http: TestClient, provider: UpstreamProvider
) -> None:
    page = http.get("/login").text
    assert 'data-upstream="up"' in page
    assert "Continue with Upstream Test" in page
    assert 'action="login/upstream/up/start"' in page


def test_the_authorization_request_uses_pkce_s256_state_and_nonce(
    http: TestClient, provider: UpstreamProvider, upstream: Upstream
) -> None:
    started = begin(http)
    assert started.status_code == 303
    location = urlsplit(started.headers["location"])
    assert (
        f"{location.scheme}://{location.netloc}{location.path}" == f"{upstream.base_url}/authorize"
    )
    query = {name: values[0] for name, values in parse_qs(location.query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == upstream.client_id
    assert query["redirect_uri"] == ISSUER + CALLBACK_PATH
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43 and len(query["nonce"]) >= 43
    assert query["scope"] == "openid profile email"
    # The provider takes the claims parameter: the id_token is asked to name the user.
    assert "preferred_username" in json.loads(query["claims"])["id_token"]


def test_a_first_sign_in_makes_a_linked_user_and_a_session(
    http: TestClient, provider: UpstreamProvider, upstream: Upstream, database: Database
) -> None:
    make_user(database, "carol")  # a local carol, never linked by her name
    answer = sign_in_upstream(http, upstream)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"{ISSUER}/login"
    assert SESSION_COOKIE in answer.headers["set-cookie"]
    _, new_user = users(database)
    assert new_user.username == "carol-2"  # preferred_username, made unique
    assert new_user.email is None  # the provider is not trusted to vouch for addresses
    # A password nobody knows: the argon2id hash of a random secret, not an empty one.
    assert new_user.password_hash.startswith("$argon2id$")
    assert not PasswordHashing().verify("", new_user.password_hash)
    (link,) = links(database)
    assert (link.issuer, link.user_id, link.provider) == (upstream.base_url, new_user.id, "up")
    assert link.subject.isdigit()  # the upstream's own user id: its `sub`
    with database.reading() as db:
        (session,) = db.exec(select(LoginSession)).all()
    assert (session.user_id, session.amr) == (new_user.id, "fed")
    assert events(database, "upstream.linked")[0]["via"] == "new user"
    assert events(database, "login.succeeded")[0]["method"] == "fed"
    assert "carol-2" in http.get("/login").text  # the signed-in page names the account


def test_the_second_sign_in_reuses_the_linked_user(
    http: TestClient,
    app: FastAPI,
    provider: UpstreamProvider,
    upstream: Upstream,
    database: Database,
) -> None:
    assert sign_in_upstream(http, upstream).status_code == 303
    with TestClient(app, base_url=ISSUER) as another_browser:
        assert sign_in_upstream(another_browser, upstream).status_code == 303
    (user,) = users(database)
    (link,) = links(database)
    assert link.user_id == user.id and link.last_used_at > link.created_at
    with database.reading() as db:
        sessions = db.exec(select(LoginSession)).all()
    assert [s.user_id for s in sessions] == [user.id, user.id]
    assert len(events(database, "upstream.linked")) == 1


def test_the_sign_in_returns_to_next_and_never_off_site(
    http: TestClient, app: FastAPI, provider: UpstreamProvider, upstream: Upstream
) -> None:
    next_path = "/authorize?" + urlencode({"client_id": "x", "scope": "openid"})
    assert sign_in_upstream(http, upstream, next_path).headers["location"] == ISSUER + next_path
    with TestClient(app, base_url=ISSUER) as browser:
        answer = sign_in_upstream(browser, upstream, "//evil.test/")
    assert answer.headers["location"] == f"{ISSUER}/login"


@pytest.mark.parametrize("query", ["", "?code=x", "?state=unknown&code=x", "?state=a&state=b"])
def test_an_answer_without_a_known_state_is_a_readable_page(
    http: TestClient, provider: UpstreamProvider, query: str
) -> None:
    answer = http.get(CALLBACK_PATH + query, follow_redirects=False)
    assert_page(answer, 400, "Please sign in again")


def test_a_replayed_answer_is_refused(
    http: TestClient, provider: UpstreamProvider, upstream: Upstream, database: Database
) -> None:
    started = begin(http)
    callback_url = answer_at_upstream(upstream, started.headers["location"])
    assert come_back(http, callback_url).status_code == 303
    assert_page(come_back(http, callback_url), 400, "expired or was already used")
    with database.reading() as db:
        assert len(db.exec(select(LoginSession)).all()) == 1


def test_an_answer_brought_to_another_browser_is_refused_and_stays_the_first_ones(
    http: TestClient,
    app: FastAPI,
    provider: UpstreamProvider,
    upstream: Upstream,
    database: Database,
) -> None:
    """RFC 6749 §10.12: an attacker's answer pushed into a victim's browser signs nobody in."""
    started = begin(http)
    callback_url = answer_at_upstream(upstream, started.headers["location"])
    with TestClient(app, base_url=ISSUER) as victim:
        assert_page(come_back(victim, callback_url), 400, "started in another browser")
    assert users(database) == []
    assert come_back(http, callback_url).status_code == 303


def test_the_person_refusing_at_the_upstream_is_a_page(
    http: TestClient, provider: UpstreamProvider, upstream: Upstream, database: Database
) -> None:
    started = begin(http)
    callback_url = answer_at_upstream(upstream, started.headers["location"], "deny", "dora")
    assert parse_qs(urlsplit(callback_url).query)["error"] == ["access_denied"]
    assert_page(come_back(http, callback_url), 403, "Signing in with Upstream Test was cancelled.")
    assert users(database) == []


def test_an_answer_naming_another_issuer_is_refused(
    http: TestClient, provider: UpstreamProvider, upstream: Upstream, database: Database
) -> None:
    """RFC 9207 §2.4: the `iss` of the answer must be the provider's (mix-up attacks)."""
    started = begin(http)
    callback_url = answer_at_upstream(upstream, started.headers["location"])
    parts = urlsplit(callback_url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    assert query["iss"] == upstream.base_url
    forged = parts._replace(query=urlencode({**query, "iss": "https://evil.test"})).geturl()
    assert_page(come_back(http, forged), 400, "Please sign in again")
    assert users(database) == []


def test_an_id_token_with_another_nonce_is_refused(
    http: TestClient, provider: UpstreamProvider, upstream: Upstream, database: Database
) -> None:
    """OIDC Core §3.1.3.7 step 11, with the real upstream's id_token: the nonce this
    sign-in stored is changed, so the one the upstream signed is another's."""
    started = begin(http)
    with database.transaction() as db:
        db.execute(update(UpstreamRequest).values(nonce="another-sign-ins-nonce"))
    answer = come_back(http, answer_at_upstream(upstream, started.headers["location"]))
    assert_page(answer, 502, "could not be completed")
    assert users(database) == []


def test_a_user_with_a_second_factor_proves_it_next(
    http: TestClient,
    app: FastAPI,
    provider: UpstreamProvider,
    upstream: Upstream,
    database: Database,
) -> None:
    assert sign_in_upstream(http, upstream).status_code == 303
    (user,) = users(database)
    assert user.id is not None
    enrol_totp(database, user.id)
    with TestClient(app, base_url=ISSUER) as browser:
        answer = sign_in_upstream(browser, upstream, "/authorize?client_id=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == (
        f"{ISSUER}/login/second-factor?" + urlencode({"next": "/authorize?client_id=x"})
    )
    cookies = answer.headers.get_list("set-cookie")
    assert any(c.startswith(PENDING_COOKIE + "=") for c in cookies)
    assert not any(c.startswith(SESSION_COOKIE + "=") for c in cookies)
    assert events(database, "login.first_factor")[0]["method"] == "fed"


def test_with_mfa_off_a_user_with_a_second_factor_gets_a_session(
    database: Database, keys_dir: Path, upstream: Upstream
) -> None:
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, mfa="off")
    add(database, settings, upstream.base_url, upstream.client_id, upstream.client_secret)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        assert sign_in_upstream(http, upstream).status_code == 303
        (user,) = users(database)
        assert user.id is not None
        enrol_totp(database, user.id)
        answer = sign_in_upstream(http, upstream)
    assert SESSION_COOKIE in answer.headers["set-cookie"]


def test_a_disabled_linked_user_is_not_signed_in(
    http: TestClient,
    app: FastAPI,
    provider: UpstreamProvider,
    upstream: Upstream,
    database: Database,
) -> None:
    assert sign_in_upstream(http, upstream).status_code == 303
    with database.transaction() as db:
        db.execute(update(User).values(disabled=True))
    with TestClient(app, base_url=ISSUER) as browser:
        assert_page(sign_in_upstream(browser, upstream), 403, "This account is disabled.")


def test_an_address_the_upstream_does_not_verify_links_nothing(
    database: Database, keys_dir: Path, upstream: Upstream, settings: Settings
) -> None:
    """Linking by e-mail is on for this provider, but our server never says
    `email_verified: true`: the local carol keeps her account to herself."""
    add(database, settings, upstream.base_url, upstream.client_id, upstream.client_secret,
        link_by_verified_email=True)  # fmt: skip
    make_user(database, "carol-local")  # carol-local@example.test
    with database.transaction() as db:
        db.execute(update(User).values(email="carol@example.test"))
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        assert sign_in_upstream(http, upstream).status_code == 303
    local, new_user = users(database)
    (link,) = links(database)
    assert link.user_id == new_user.id != local.id


def test_purge_deletes_expired_sign_ins_in_flight(
    http: TestClient, provider: UpstreamProvider, database: Database
) -> None:
    assert begin(http).status_code == 303
    assert begin(http).status_code == 303
    with database.transaction() as db:
        first = db.exec(select(UpstreamRequest)).first()
        assert first is not None
        first.expires_at = utcnow() - timedelta(seconds=1)
        db.add(first)
    with database.transaction() as db:
        assert purge_expired(db, utcnow(), timedelta(minutes=15)).upstream_requests == 1
    with database.reading() as db:
        assert len(db.exec(select(UpstreamRequest)).all()) == 1


def enrol_totp(database: Database, user_id: int) -> None:
    sealer = Sealer(None)
    with database.transaction() as db:
        secret = begin_enrolment(db, sealer, user_id, "carol", "authserver", utcnow()).secret
        assert confirm_enrolment(db, sealer, user_id, pyotp.TOTP(secret).now(), utcnow())


# The stub provider: id_tokens a real provider never issues ------------------------


def begin_at_stub(browser: TestClient, stub: StubProvider) -> dict[str, str]:
    """Begin a sign-in; the query of the authorization request the stub would get."""
    started = begin(browser)
    assert started.status_code == 303, started.text
    query = {n: v[0] for n, v in parse_qs(urlsplit(started.headers["location"]).query).items()}
    stub.code_challenge = query["code_challenge"]
    return query


def claims_for(stub: StubProvider, query: dict[str, str], **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": stub.base_url,
        "sub": "stub-user-1",
        "aud": upstream_stub.CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": query["nonce"],
        "preferred_username": "sam",
        **changes,
    }
    return {name: value for name, value in claims.items() if value is not None}


def answer_from_stub(browser: TestClient, query: dict[str, str]) -> Response:
    return browser.get(
        CALLBACK_PATH, params={"state": query["state"], "code": upstream_stub.CODE},
        follow_redirects=False,
    )  # fmt: skip


def sign_in_with(
    browser: TestClient, stub: StubProvider, key: RSAKey | None = None, **changes: Any
) -> Response:
    query = begin_at_stub(browser, stub)
    stub.id_token = stub.sign(claims_for(stub, query, **changes), key)
    return answer_from_stub(browser, query)


def test_a_well_formed_id_token_signs_in_and_the_code_exchange_used_pkce(
    browser: TestClient, stub: StubProvider, database: Database
) -> None:
    answer = sign_in_with(browser, stub)
    assert answer.status_code == 303, answer.text
    (token_request,) = stub.token_requests
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["redirect_uri"] == ISSUER + CALLBACK_PATH
    assert [u.username for u in users(database)] == ["sam"]


@pytest.mark.parametrize(
    "changes",
    [
        {"aud": "another-client"},
        {"aud": ["another-client"]},
        {"aud": [upstream_stub.CLIENT_ID, "another-client"]},  # several audiences, no azp
        {"azp": "another-client"},
        {"iss": "https://evil.test"},
        {"exp": int(time.time()) - 120},
        {"iat": int(time.time()) + 3600},
        {"nonce": "another-nonce"},
        {"nonce": None},
        {"sub": None},
        {"sub": "x" * 256},
    ],
    ids=[
        "aud", "aud-list", "aud-several-without-azp", "azp", "iss", "expired", "issued-later",
        "nonce", "no-nonce", "no-sub", "long-sub",
    ],
)  # fmt: skip
def test_an_id_token_failing_a_check_is_refused(
    browser: TestClient, stub: StubProvider, database: Database, changes: dict[str, Any]
) -> None:
    assert_page(sign_in_with(browser, stub, **changes), 502, "could not be completed")
    assert users(database) == []


def test_several_audiences_with_azp_naming_us_are_accepted(
    browser: TestClient, stub: StubProvider
) -> None:
    audiences = [upstream_stub.CLIENT_ID, "another-client"]
    answer = sign_in_with(browser, stub, aud=audiences, azp=upstream_stub.CLIENT_ID)
    assert answer.status_code == 303


def test_an_id_token_signed_by_another_key_is_refused(
    browser: TestClient, stub: StubProvider, database: Database
) -> None:
    forger = RSAKey.generate_key(2048, {"kid": upstream_stub.KID})
    assert_page(sign_in_with(browser, stub, key=forger), 502, "could not be completed")
    assert users(database) == []


def test_an_unknown_kid_just_after_fetching_the_keys_is_refused_without_asking_again(
    browser: TestClient, stub: StubProvider, database: Database
) -> None:
    query = begin_at_stub(browser, stub)
    stub.paths.clear()
    stub.id_token = stub.sign(claims_for(stub, query), RSAKey.generate_key(2048, {"kid": "new"}))
    assert_page(answer_from_stub(browser, query), 502, "could not be completed")
    assert "/jwks" not in stub.paths  # a flood of made-up kids costs the provider nothing
    assert users(database) == []


def test_keys_the_provider_rotated_in_are_fetched_when_an_id_token_names_one(
    stub: StubProvider,
) -> None:
    stub.reset()
    now = [1000.0]
    cache = MetadataCache(allow_private=True, clock=lambda: now[0])
    old_kid = stub.key.kid
    assert set(cache.get(stub.base_url).keys) == {old_kid}
    stub.key = RSAKey.generate_key(2048, {"kid": "rotated"})
    now[0] += MIN_REFETCH_SECONDS / 2
    assert cache.refetch_keys(stub.base_url) is None  # too soon after the last fetch
    assert set(cache.get(stub.base_url).keys) == {old_kid}  # still fresh
    now[0] += MIN_REFETCH_SECONDS
    refreshed = cache.refetch_keys(stub.base_url)
    assert refreshed is not None and set(refreshed.keys) == {"rotated"}
    assert cache.get(stub.base_url) is refreshed


@pytest.mark.parametrize("alg", ["none", "HS256"])
def test_an_unsigned_or_hmac_id_token_is_refused(
    browser: TestClient, stub: StubProvider, database: Database, alg: str
) -> None:
    """RFC 8725 §2.1: `none`, and an HMAC keyed with the provider's public key."""
    query = begin_at_stub(browser, stub)
    claims = claims_for(stub, query)
    if alg == "none":
        stub.id_token = unsigned({"alg": "none", "kid": upstream_stub.KID}, claims) + "."
    else:
        public_pem = stub.key.as_bytes(private=False)
        stub.id_token = sign_hs256(claims, public_pem, upstream_stub.KID)
    assert_page(answer_from_stub(browser, query), 502, "could not be completed")
    assert users(database) == []


@pytest.mark.parametrize(
    ("link_by_verified_email", "email_verified", "linked"),
    [(True, True, True), (True, False, False), (False, True, False)],
    ids=["enabled-and-verified", "not-verified", "not-enabled"],
)
def test_an_e_mail_links_only_where_enabled_and_verified(
    database: Database,
    stub: StubProvider,
    settings: Settings,
    link_by_verified_email: bool,
    email_verified: bool,
    linked: bool,
) -> None:
    stub.reset()
    add(database, settings, stub.base_url, upstream_stub.CLIENT_ID, upstream_stub.CLIENT_SECRET,
        link_by_verified_email=link_by_verified_email)  # fmt: skip
    local = make_user(database, "samantha")  # samantha@example.test
    with TestClient(create_app(settings), base_url=ISSUER) as browser:
        answer = sign_in_with(
            browser, stub, email="Samantha@Example.test", email_verified=email_verified
        )
    assert answer.status_code == 303, answer.text
    (link,) = links(database)
    assert (link.user_id == local.id) is linked
    assert len(users(database)) == (1 if linked else 2)
    if linked:
        assert events(database, "upstream.linked")[0]["via"] == "verified email"


def test_a_discovery_document_naming_another_issuer_is_refused(
    browser: TestClient, stub: StubProvider, database: Database
) -> None:
    """OIDC Discovery 1.0 §4.3: the keys would be another issuer's."""
    stub.issuer = "https://evil.test"
    assert_page(begin(browser), 502, "could not be completed")
    with database.reading() as db:
        assert db.exec(select(UpstreamRequest)).all() == []


def test_an_oversized_jwks_is_not_read(browser: TestClient, stub: StubProvider) -> None:
    stub.jwks_padding = 300 * 1024
    assert_page(begin(browser), 502, "could not be completed")


def test_no_request_goes_to_a_private_address_unless_allowed(
    database: Database, keys_dir: Path, stub: StubProvider
) -> None:
    """CONTRACT.md "Outbound requests": AUTHSERVER_OUTBOUND_ALLOW_PRIVATE=false refuses
    the loopback provider before any request is sent."""
    stub.reset()
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, outbound_allow_private=False
    )
    add(database, settings, stub.base_url, upstream_stub.CLIENT_ID, upstream_stub.CLIENT_SECRET)
    with TestClient(create_app(settings), base_url=ISSUER) as browser:
        assert_page(begin(browser), 502, "could not be completed")
    assert stub.paths == []


def test_an_unknown_provider_is_a_page(http: TestClient) -> None:
    # With a `next`, the login form shows even to a signed-in browser.
    login = http.get("/login", params={"next": "/"})
    answer = http.post(
        "/login/upstream/nobody/start", data={"csrf_token": csrf_token_of(login.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert_page(answer, 404, "There is no such way to sign in.")


def test_beginning_without_the_login_pages_csrf_token_is_refused(
    browser: TestClient, stub: StubProvider
) -> None:
    answer = browser.post("/login/upstream/up/start", data={"csrf_token": "forged"})
    assert_page(answer, 400, "This form expired.")
    assert stub.paths == []


def test_the_provider_of_the_environment_is_added_at_start(
    database: Database, keys_dir: Path, stub: StubProvider
) -> None:
    stub.reset()
    settings = make_settings(
        database_url=database.url,
        keys_dir=keys_dir,
        upstream_issuer=stub.base_url,
        upstream_client_id=upstream_stub.CLIENT_ID,
        upstream_client_secret=upstream_stub.CLIENT_SECRET,
        upstream_name="up",
        upstream_display_name="Upstream Test",
    )
    with TestClient(create_app(settings), base_url=ISSUER) as browser:
        assert sign_in_with(browser, stub).status_code == 303
    configure_from_settings(settings, database, Sealer(None))  # the next start: no change
    assert len(events(database, "upstream.provider_added")) == 1
    changed = settings.model_copy(update={"upstream_display_name": "Renamed"})
    configure_from_settings(changed, database, Sealer(None))
    with database.reading() as db:
        (provider,) = db.exec(select(UpstreamProvider)).all()
    assert provider.display_name == "Renamed"
    assert len(events(database, "upstream.provider_added")) == 2


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"upstream_issuer": "https://id.example.test"}, "AUTHSERVER_UPSTREAM_CLIENT_ID"),
        (
            {"upstream_issuer": "http://id.example.test", "upstream_client_id": "x"},
            "AUTHSERVER_UPSTREAM_ISSUER",
        ),
    ],
    ids=["issuer-without-client-id", "http-issuer-in-production"],
)
def test_an_incomplete_or_unsafe_provider_in_the_environment_stops_the_start(
    overrides: dict[str, str], named: str
) -> None:
    settings = make_settings(mode="production", **overrides)
    with pytest.raises(ConfigurationError, match=named):
        spec_from_settings(settings)

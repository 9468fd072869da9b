"""A drill's database: migrated, with its clients, one user and refresh-token families.

Made with the project's own domain code (the calls `authserver clients create` and the
authorization code grant make), so that thousands of families take a second: only
hashes, no HTTP, no signatures, no sign-in.
"""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import Session

import authserver.models  # noqa: F401 - every table on the metadata
from authserver.clients.registration import ClientSpec, register_client
from authserver.clients.repository import ClientRepository
from authserver.clock import utcnow
from authserver.db import Database
from authserver.schema import upgrade_database
from authserver.tokens.families import issue_refresh_token, start_family
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository

SERVICE_AUDIENCE = "https://orders.drill.test"
SCOPE = "openid orders:read"
FAMILY_TTL = timedelta(days=1)


@dataclass(frozen=True)
class Credentials:
    client_id: str
    secret: str

    @property
    def auth(self) -> tuple[str, str]:
        return (self.client_id, self.secret)


@dataclass(frozen=True)
class Family:
    id: str
    refresh_token: str


@dataclass(frozen=True)
class Seed:
    web_app: Credentials  # authorization_code and refresh_token
    service: Credentials  # client_credentials, audience SERVICE_AUDIENCE
    introspector: Credentials  # may introspect every token
    username: str
    password: str
    families: list[Family]


def seed_database(database_url: str, families: int) -> Seed:
    database = Database(database_url)
    try:
        upgrade_database(database)
        with database.transaction() as db:
            return _seed(db, families)
    finally:
        database.dispose()


def _seed(db: Session, count: int) -> Seed:
    username, password = "drill-user", secrets.token_urlsafe(18)
    user = create_user(UserRepository(db), username, password)
    clients = ClientRepository(db)
    web_app = _register(
        clients,
        ClientSpec(
            name="drill-web-app",
            grant_types=["authorization_code", "refresh_token"],
            scope=SCOPE,
            redirect_uris=["https://app.drill.test/callback"],
            audiences=[SERVICE_AUDIENCE],
            skip_consent=True,
        ),
    )
    service = _register(
        clients,
        ClientSpec(
            name="drill-service",
            grant_types=["client_credentials"],
            scope="orders:read",
            audiences=[SERVICE_AUDIENCE],
        ),
    )
    introspector = _register(
        clients,
        ClientSpec(
            name="drill-introspector", grant_types=["client_credentials"], can_introspect=True
        ),
    )
    assert user.id is not None
    now = utcnow()
    families = []
    for _ in range(count):
        # What the authorization code grant does when it redeems a code.
        family = start_family(
            db,
            client_id=web_app.client_id,
            user_id=user.id,
            session_id=None,
            scope=SCOPE,
            auth_time=now,
            now=now,
            ttl=FAMILY_TTL,
        )
        families.append(Family(family.id, issue_refresh_token(db, family, now, None)))
    return Seed(web_app, service, introspector, username, password, families)


def _register(clients: ClientRepository, spec: ClientSpec) -> Credentials:
    client, secret = register_client(clients, spec)
    assert secret is not None
    return Credentials(client.client_id, secret)

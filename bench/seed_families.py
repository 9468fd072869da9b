"""PostgreSQL side of bench/run.sh: a throwaway database, seeded refresh-token families.

    python bench/seed_families.py ping ADMIN_URL
    python bench/seed_families.py createdb ADMIN_URL NAME
    python bench/seed_families.py seed DATABASE_URL OUT_DIR GROUP=COUNT [GROUP=COUNT ...]
    python bench/seed_families.py prime BASE_URL AUTHORIZATION TOKENS_FILE OUT_FILE
    python bench/seed_families.py chains DATABASE_URL FAMILIES_FILE
    python bench/seed_families.py dropdb ADMIN_URL NAME

`ping` fails unless ADMIN_URL's server answers a query. `createdb`/`dropdb` make and
remove `NAME` (which must look like authserver_bench_<hex>,
so nothing else can be dropped by mistake) through ADMIN_URL's server.

`seed` migrates the database, then uses the project's own domain code (the same calls
the authorization code grant and `authserver clients create` make) to create one user,
a confidential `authorization_code refresh_token` client, a confidential client allowed
to introspect every token, and for each GROUP=COUNT that many token families, each with
one live refresh token. It writes OUT_DIR/GROUP.tokens (one refresh token a line),
OUT_DIR/GROUP.families (their family ids, in the same order) and OUT_DIR/clients.json
(the two clients' HTTP Basic `Authorization` values). Seeding
thousands of families takes well under a second: only hashes, no HTTP, no signatures.

`prime` redeems each refresh token of TOKENS_FILE once at BASE_URL/token and writes the
access tokens of the responses to OUT_FILE (for the introspection run). Any answer
other than 200 with an access_token fails.

`chains` reports, for the families of FAMILIES_FILE, what the database says happened
to them: "families: N", "revoked families: N" (a replayed token revokes its family, so
this must be 0), "rotations stored: N" (refresh tokens minted by rotation) and "live
tokens: N" (unconsumed ones: one per family while every chain holds).
"""

import base64
import json
import re
import secrets
import sys
import urllib.error
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote_plus

from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col

import authserver.models  # noqa: F401 - every table on the metadata
from authserver.clients.registration import ClientSpec, register_client
from authserver.clients.repository import ClientRepository
from authserver.clock import utcnow
from authserver.db import Database
from authserver.schema import upgrade_database
from authserver.tokens.families import issue_refresh_token, start_family
from authserver.tokens.models import RefreshToken, TokenFamily
from authserver.users.registration import create_user
from authserver.users.repository import UserRepository

BENCH_SCOPE = "bench:read"
FAMILY_TTL = timedelta(days=1)
_NAME = re.compile(r"^authserver_bench_[0-9a-f]{8,32}$")


def basic_authorization(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts form-urlencoded, then Basic-encoded."""
    pair = quote_plus(client_id, safe="") + ":" + quote_plus(secret, safe="")
    return "Basic " + base64.b64encode(pair.encode()).decode()


def _admin_engine(admin_url: str, name: str) -> Engine:
    if not _NAME.match(name):
        raise SystemExit(f"refusing database name {name!r}: not authserver_bench_<hex>")
    return create_engine(admin_url, isolation_level="AUTOCOMMIT")


def seed_family(db: Session, client_id: str, user_id: int, now: datetime) -> tuple[str, str]:
    """A family with one live refresh token, as the authorization code grant starts one
    when it redeems a code: (its id, the refresh token)."""
    family = start_family(
        db,
        client_id=client_id,
        user_id=user_id,
        session_id=None,
        scope=BENCH_SCOPE,
        auth_time=now,
        now=now,
        ttl=FAMILY_TTL,
    )
    return family.id, issue_refresh_token(db, family, now, None)


def ping(admin_url: str) -> None:
    engine = create_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - the first line names the cause
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SystemExit(reason) from None
    finally:
        engine.dispose()


def createdb(admin_url: str, name: str) -> None:
    engine = _admin_engine(admin_url, name)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    print(make_url(admin_url).set(database=name).render_as_string(hide_password=False))


def dropdb(admin_url: str, name: str) -> None:
    engine = _admin_engine(admin_url, name)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


def seed(database_url: str, out_dir: str, groups: list[str]) -> None:
    counts: dict[str, int] = {}
    for group in groups:
        name, _, count = group.partition("=")
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", name) or not count.isdigit() or name in counts:
            raise SystemExit(f"bad group {group!r}: NAME=COUNT, each NAME once")
        counts[name] = int(count)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    database = Database(database_url)
    try:
        upgrade_database(database)
        now = utcnow()
        with database.transaction() as db:
            user = create_user(UserRepository(db), "bench-user", secrets.token_urlsafe(24))
            clients = ClientRepository(db)
            refresher, refresher_secret = register_client(
                clients,
                ClientSpec(
                    name="bench-refresh",
                    grant_types=["authorization_code", "refresh_token"],
                    scope=BENCH_SCOPE,
                    redirect_uris=["http://127.0.0.1/bench/callback"],
                ),
            )
            introspector, introspector_secret = register_client(
                clients,
                ClientSpec(
                    name="bench-introspect",
                    grant_types=["client_credentials"],
                    can_introspect=True,
                ),
            )
            assert user.id is not None and refresher_secret and introspector_secret
            tokens: dict[str, list[str]] = {}
            families: dict[str, list[str]] = {}
            for name, count in counts.items():
                tokens[name] = []
                families[name] = []
                for _ in range(count):
                    family_id, token = seed_family(db, refresher.client_id, user.id, now)
                    tokens[name].append(token)
                    families[name].append(family_id)
        # Written only after the commit: a file never names a token the database lacks.
        for name, values in tokens.items():
            (out / f"{name}.tokens").write_text("".join(f"{v}\n" for v in values))
            (out / f"{name}.families").write_text("".join(f"{v}\n" for v in families[name]))
        (out / "clients.json").write_text(
            json.dumps(
                {
                    "refresh_authorization": basic_authorization(
                        refresher.client_id, refresher_secret
                    ),
                    "introspect_authorization": basic_authorization(
                        introspector.client_id, introspector_secret
                    ),
                }
            )
        )
    finally:
        database.dispose()


def prime(base_url: str, authorization: str, tokens_file: str, out_file: str) -> None:
    access_tokens = []
    for refresh_token in Path(tokens_file).read_text().split():
        body = f"grant_type=refresh_token&refresh_token={refresh_token}".encode()
        request = urllib.request.Request(  # noqa: S310 - run.sh passes http://127.0.0.1:PORT
            f"{base_url}/token",
            data=body,
            method="POST",
            headers={
                "Authorization": authorization,
                "Content-Type": "application/x-www-form-urlencoded",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            raise SystemExit(
                f"POST /token (refresh) answered {error.code}: {error.read()[:300]!r}"
            ) from None
        if not answer.get("access_token") or not answer.get("refresh_token"):
            raise SystemExit(f"POST /token (refresh) answered 200 without tokens: {answer}")
        access_tokens.append(answer["access_token"])
    Path(out_file).write_text("".join(f"{t}\n" for t in access_tokens))


def chains(database_url: str, families_file: str) -> None:
    ids = Path(families_file).read_text().split()
    database = Database(database_url)
    try:
        with database.transaction() as db:
            family_in = col(TokenFamily.id).in_(ids)
            token_in = col(RefreshToken.family_id).in_(ids)

            def count(*conditions: object) -> int:
                return db.execute(select(func.count()).where(*conditions)).scalar_one()

            found = count(family_in)
            revoked = count(family_in, col(TokenFamily.revoked_at).is_not(None))
            rotations = count(token_in, col(RefreshToken.parent_hash).is_not(None))
            live = count(token_in, col(RefreshToken.consumed_at).is_(None))
    finally:
        database.dispose()
    print(f"families: {found}")
    print(f"revoked families: {revoked}")
    print(f"rotations stored: {rotations}")
    print(f"live tokens: {live}")


def main(argv: list[str]) -> None:
    commands = {
        "ping": (ping, 1),
        "createdb": (createdb, 2),
        "dropdb": (dropdb, 2),
        "prime": (prime, 4),
        "chains": (chains, 2),
    }
    if len(argv) >= 4 and argv[1] == "seed":
        seed(argv[2], argv[3], argv[4:])
        return
    if len(argv) >= 2 and argv[1] in commands:
        function, arity = commands[argv[1]]
        if len(argv) - 2 == arity:
            function(*argv[2:])
            return
    raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

"""Rows for bench/growth.py: token families and deny-list entries by the hundred thousand.

bench/seed_families.py makes the user, the two clients and the first families through the
project's domain code, as the grants do; that is far too slow for a million rows. Here the
filler goes in with PostgreSQL's COPY, in transactions of `BATCH` rows: each family with
one live refresh token (its `token_hash` 64 random hex digits, the shape of the SHA-256
the server stores) and a user among filler users (one per `FAMILIES_PER_USER`
families: their password hash is no hash, nobody can sign in as them), so that the
planner sees a users table of realistic size; and deny-list rows
(`revoked_access_tokens`: a `jti` like the server's, `expires_at` within the next 1-2
hours, so none expires during a run). The families the wrk runs and the plans use are
made by the domain code (`seed_groups`).
"""

import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from seed_families import BENCH_SCOPE, seed_family
from sqlalchemy.engine import make_url

from authserver.clock import utcnow
from authserver.db import Database

BATCH = 100_000
# A family of the filler was started some time in its lifetime (refresh_token_ttl: 7 days).
FAMILY_LIFETIME = timedelta(days=7)
DENIED_FROM, DENIED_SPAN = timedelta(hours=1), timedelta(hours=1)
FAMILIES_PER_USER = 4
FILLER_USER = "bench-filler-"
TABLES = ("token_families", "refresh_tokens", "revoked_access_tokens", "users", "audit_events")


@dataclass(frozen=True)
class Principals:
    """Who the seeded families belong to: seed_families.py's user and clients."""

    user_id: int
    refresh_client_id: str
    introspect_client_id: str


def libpq_conninfo(database_url: str) -> str:
    """The SQLAlchemy URL (postgresql+psycopg://...) as psycopg's own connection string."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def find_principals(conninfo: str) -> Principals:
    with psycopg.connect(conninfo) as connection:
        user = connection.execute("SELECT id FROM users WHERE username = 'bench-user'").fetchone()
        clients = dict(
            connection.execute(
                "SELECT name, client_id FROM clients "
                "WHERE name IN ('bench-refresh', 'bench-introspect')"
            ).fetchall()
        )
    if user is None or len(clients) != 2:
        raise RuntimeError(
            "seed_families.py seed made no bench-user, bench-refresh and -introspect"
        )
    return Principals(user[0], clients["bench-refresh"], clients["bench-introspect"])


def seed_groups(
    database_url: str, principals: Principals, out: Path, groups: dict[str, int]
) -> None:
    """Families with one live refresh token each, made as the code grant makes them;
    OUT/GROUP.tokens and OUT/GROUP.families as bench/seed_families.py writes them."""
    out.mkdir(parents=True, exist_ok=True)
    database = Database(database_url)
    tokens: dict[str, list[str]] = {name: [] for name in groups}
    families: dict[str, list[str]] = {name: [] for name in groups}
    try:
        now = utcnow()
        with database.transaction() as db:
            for name, count in groups.items():
                for _ in range(count):
                    family_id, token = seed_family(
                        db, principals.refresh_client_id, principals.user_id, now
                    )
                    tokens[name].append(token)
                    families[name].append(family_id)
    finally:
        database.dispose()
    for name in groups:
        (out / f"{name}.tokens").write_text("".join(f"{t}\n" for t in tokens[name]))
        (out / f"{name}.families").write_text("".join(f"{f}\n" for f in families[name]))


def fill_families(conninfo: str, principals: Principals, total: int) -> int:
    """Filler families, each with one live refresh token, until `token_families` holds
    `total` rows, spread over filler users; the number added."""
    added = 0
    user_ids = _fill_users(conninfo, max(1, total // FAMILIES_PER_USER))
    with psycopg.connect(conninfo) as connection:
        missing = total - _count(connection, "token_families")
        while missing > 0:
            batch = min(missing, BATCH)
            _copy_families(connection, principals.refresh_client_id, user_ids, batch, utcnow())
            connection.commit()
            missing -= batch
            added += batch
    return added


def fill_deny_list(conninfo: str, total: int) -> int:
    """Deny-list rows until `revoked_access_tokens` holds `total`; the number added."""
    added = 0
    with psycopg.connect(conninfo) as connection:
        missing = total - _count(connection, "revoked_access_tokens")
        while missing > 0:
            batch = min(missing, BATCH)
            now = utcnow()
            columns = "revoked_access_tokens (jti, expires_at)"
            with connection.cursor().copy(f"COPY {columns} FROM STDIN") as copy:
                for _ in range(batch):
                    expires_at = now + DENIED_FROM + DENIED_SPAN * random.random()  # noqa: S311
                    copy.write_row((secrets.token_urlsafe(16), expires_at))
            connection.commit()
            missing -= batch
            added += batch
    return added


def settle(conninfo: str) -> str:
    """After a bulk load, what a database in service would have done long since: VACUUM
    (the visibility map, so index-only scans need no heap fetch), ANALYZE (statistics for
    the planner), CHECKPOINT (the load's dirty pages written, not during the measurement).
    Returns a note when CHECKPOINT was not allowed (it needs superuser or pg_checkpoint)."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE)")
        try:
            connection.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege as error:
            return f"no CHECKPOINT after seeding ({error})"
    return ""


def table_sizes(conninfo: str) -> dict[str, tuple[int, int]]:
    """table -> (rows, bytes with indexes and TOAST)."""
    sizes = {}
    with psycopg.connect(conninfo) as connection:
        for table in TABLES:
            size = connection.execute(
                "SELECT pg_total_relation_size(%s::regclass)", (table,)
            ).fetchone()
            sizes[table] = (_count(connection, table), int(size[0]) if size else 0)
    return sizes


def _fill_users(conninfo: str, total: int) -> list[int]:
    """Filler users until there are `total`; the ids of all of them."""
    pattern = FILLER_USER + "%"
    with psycopg.connect(conninfo) as connection:
        query = "SELECT id FROM users WHERE username LIKE %s"
        found = len(connection.execute(query, (pattern,)).fetchall())
        now = utcnow()
        columns = "users (username, username_key, password_hash, disabled, created_at, updated_at)"
        with connection.cursor().copy(f"COPY {columns} FROM STDIN") as copy:
            for number in range(found, total):
                name = f"{FILLER_USER}{number}"
                copy.write_row((name, name, "!", False, now, now))
        connection.commit()
        return [row[0] for row in connection.execute(query, (pattern,)).fetchall()]


def _copy_families(
    connection: psycopg.Connection,
    client_id: str,
    user_ids: list[int],
    count: int,
    now: datetime,
) -> None:
    ids = [secrets.token_urlsafe(16) for _ in range(count)]
    started = [now - FAMILY_LIFETIME * 0.85 * random.random() for _ in range(count)]  # noqa: S311
    family_columns = (
        "token_families (id, client_id, user_id, session_id, scope, auth_time, created_at, "
        "expires_at, revoked_at)"
    )
    with connection.cursor().copy(f"COPY {family_columns} FROM STDIN") as copy:
        for family_id, created_at in zip(ids, started, strict=True):
            copy.write_row(
                (
                    family_id,
                    client_id,
                    random.choice(user_ids),  # noqa: S311
                    None,
                    BENCH_SCOPE,
                    created_at,
                    created_at,
                    created_at + FAMILY_LIFETIME,
                    None,
                )
            )
    refresh_columns = (
        "refresh_tokens (token_hash, family_id, parent_hash, created_at, expires_at, consumed_at)"
    )
    with connection.cursor().copy(f"COPY {refresh_columns} FROM STDIN") as copy:
        for family_id, created_at in zip(ids, started, strict=True):
            copy.write_row(
                (
                    secrets.token_hex(32),
                    family_id,
                    None,
                    created_at,
                    created_at + FAMILY_LIFETIME,
                    None,
                )
            )


def _count(connection: psycopg.Connection, table: str) -> int:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}")
    row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    return int(row[0]) if row else 0

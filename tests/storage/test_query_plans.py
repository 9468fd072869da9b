"""The hot paths' statements read the tables that grow with traffic by an index, in
PostgreSQL's *generic* plan too.

psycopg prepares a statement on a connection after a few runs, and PostgreSQL may then
keep one generic plan for it, made from the table sizes it saw at the time. A fresh
deployment's tables are nearly empty, where a sequential scan is the cheapest plan, and a
pooled connection lives long: a statement whose index use depended on the sizes would go
on scanning every refresh token after the table has grown to millions of rows (the first
`make bench` on PostgreSQL measured exactly that, a scan of all refresh tokens per
rotation). So each statement here is planned generically on empty tables, the worst
case, and no table that grows with traffic may be read by a sequential scan.
"""

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url
from sqlalchemy.sql import ClauseElement

from authserver.async_db import psycopg_sql
from authserver.clock import utcnow
from authserver.statuslists.allocation import StatusReference
from authserver.tokens.repository import _CONSUME, ROTATE_IN_ONE_STATEMENT, rotation_parameters
from authserver.tokens.validity import _FAMILY_AND_USER, _FAMILY_STATE, _SERVICE_TOKEN_STATE

pytestmark = pytest.mark.postgresql

GROWING_TABLES = (
    "refresh_tokens",
    "token_families",
    "revoked_access_tokens",
    "status_assignments",
    "audit_events",
    "users",
    "clients",
)
_NOW = utcnow()
_PLACEHOLDER = re.compile(r"%\((\w+)\)s")

HOT_STATEMENTS: dict[str, tuple[ClauseElement, dict[str, Any]]] = {
    "refresh rotation (event loop and thread path)": (
        ROTATE_IN_ONE_STATEMENT,
        rotation_parameters(
            "presented", "successor", "client", _NOW, _NOW, StatusReference("list", 7), None
        ),
    ),
    "refresh token consumed (SQLite's rotation, on PostgreSQL too)": (
        _CONSUME,
        {"hash": "presented", "now": _NOW},
    ),
    "access token of a family: introspection, /userinfo's thread path": (
        _FAMILY_STATE,
        {"fid": "family", "jti": "jti"},
    ),
    "/userinfo on the event loop": (_FAMILY_AND_USER, {"fid": "family", "jti": "jti", "uid": 1}),
    "client_credentials access token: introspection": (
        _SERVICE_TOKEN_STATE,
        {"jti": "jti", "client_id": "client"},
    ),
}


def _sql_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "bigint"
    if isinstance(value, datetime):
        return "timestamptz"
    return "text"  # str, and None where a string may stand


def generic_plan(
    connection: psycopg.Connection[Any], statement: ClauseElement, parameters: dict[str, Any]
) -> str:
    """EXPLAIN of `statement`'s generic plan, as psycopg's prepared statements get it."""
    sql = psycopg_sql(postgresql.dialect())(statement)  # type: ignore[no-untyped-call]
    order: list[str] = []

    def numbered(match: re.Match[str]) -> str:
        if match[1] not in order:
            order.append(match[1])
        return f"${order.index(match[1]) + 1}"

    sql = _PLACEHOLDER.sub(numbered, sql)
    types = ", ".join(_sql_type(parameters[name]) for name in order)
    connection.execute("DEALLOCATE ALL")
    connection.execute(f"PREPARE hot ({types}) AS {sql}")
    nulls = ", ".join("NULL" for _ in order)
    rows = connection.execute(f"EXPLAIN EXECUTE hot ({nulls})").fetchall()
    return "\n".join(row[0] for row in rows)


@pytest.fixture
def connection(postgresql_url: str) -> Iterator[psycopg.Connection[Any]]:
    conninfo = make_url(postgresql_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("SET plan_cache_mode = force_generic_plan")
        yield connection


@pytest.mark.parametrize("name", list(HOT_STATEMENTS))
def test_a_hot_statement_reads_growing_tables_by_index_in_its_generic_plan(
    connection: psycopg.Connection[Any], name: str
) -> None:
    statement, parameters = HOT_STATEMENTS[name]
    plan = generic_plan(connection, statement, parameters)
    scanned = [table for table in GROWING_TABLES if f"Seq Scan on {table}" in plan]
    assert scanned == [], f"{name}: sequential scan of {scanned}\n{plan}"
    assert "Index Scan" in plan or "Index Only Scan" in plan, plan

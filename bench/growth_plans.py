"""The query plans of the refresh and introspection paths, for bench/growth.py.

The statements are the server's own, imported from where they live, so the plans follow
the code: the rotation (`ROTATE_IN_ONE_STATEMENT`, authserver/tokens/repository.py),
and the two checks of introspection (`_FAMILY_STATE` for a user's access token,
`_SERVICE_TOKEN_STATE` for a client_credentials one, authserver/tokens/validity.py).
Each is compiled for PostgreSQL as SQLAlchemy sends it and run under
`EXPLAIN (ANALYZE, BUFFERS)` with real values: a live refresh token, the `jti` and `fid`
of an access token the server issued, a deny-listed `jti`. The rotation really rotates,
so it runs in a transaction that is rolled back.
"""

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, create_engine, func, select, table
from sqlalchemy.sql.elements import ClauseElement

from authserver.clock import utcnow
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.tokens.repository import ROTATE_IN_ONE_STATEMENT
from authserver.tokens.validity import _FAMILY_STATE, _SERVICE_TOKEN_STATE

_NODE = re.compile(r"(?:->\s+)?((?:Parallel )?(?:\w+ )*Scan(?: using \S+)? on \S+(?: \w+)?)")
_EXECUTION = re.compile(r"Execution Time: ([0-9.]+) ms")


@dataclass(frozen=True)
class PlanValues:
    """Real bind values: tokens the server issued and rows the database holds."""

    refresh_token: str
    refresh_client_id: str
    access_jti: str
    access_fid: str
    denied_jti: str
    service_client_id: str


@dataclass(frozen=True)
class Plan:
    name: str
    statement: str
    text: str
    # The rows of each table read by a Seq Scan: on a table of a few rows that is the
    # planner's right choice, on a large one a finding.
    seq_scanned_rows: dict[str, int] = field(default_factory=dict)

    @property
    def scans(self) -> list[str]:
        """Every scan node, e.g. "Index Scan using refresh_tokens_pkey on refresh_tokens t"."""
        return [match.group(1) for match in map(_NODE.search, self.text.splitlines()) if match]

    @property
    def seq_scans(self) -> list[str]:
        return [scan for scan in self.scans if scan.startswith(("Seq Scan", "Parallel Seq"))]

    @property
    def execution_ms(self) -> float:
        found = _EXECUTION.search(self.text)
        return float(found.group(1)) if found else float("nan")

    @property
    def buffers(self) -> str:
        """The top node's buffer counts ("shared hit=9 read=2"), all its children's included."""
        for line in self.text.splitlines():
            if line.strip().startswith("Buffers:"):
                return line.strip().removeprefix("Buffers: ")
        return "-"


def capture_plans(database_url: str, values: PlanValues) -> list[Plan]:
    now = utcnow()
    rotation = {
        "hash": opaque_hash(values.refresh_token),
        "new_hash": opaque_hash(new_opaque_secret()),
        "client_id": values.refresh_client_id,
        "now": now,
        "idle_expires_at": None,
    }
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            plans = [
                _explain(
                    connection,
                    "refresh rotation",
                    "tokens/repository.py ROTATE_IN_ONE_STATEMENT",
                    ROTATE_IN_ONE_STATEMENT,
                    rotation,
                ),
                _explain(
                    connection,
                    "introspection, user token",
                    "tokens/validity.py _FAMILY_STATE",
                    _FAMILY_STATE,
                    {"jti": values.access_jti, "fid": values.access_fid},
                ),
                _explain(
                    connection,
                    "introspection, service token",
                    "tokens/validity.py _SERVICE_TOKEN_STATE",
                    _SERVICE_TOKEN_STATE,
                    {"jti": values.denied_jti, "client_id": values.service_client_id},
                ),
            ]
            return [_with_seq_scanned_rows(connection, plan) for plan in plans]
    finally:
        engine.dispose()


def _explain(
    connection: Connection,
    name: str,
    where: str,
    statement: ClauseElement,
    parameters: dict[str, str | datetime | None],
) -> Plan:
    """EXPLAIN (ANALYZE, BUFFERS) of `statement` as the driver would get it; rolled back."""
    compiled = statement.compile(dialect=connection.dialect)
    bound: dict[str, Any] = dict(parameters)
    transaction = connection.begin()
    try:
        rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}", bound)
        text = "\n".join(row[0] for row in rows)
    finally:
        transaction.rollback()
    return Plan(name, where, text)


def _with_seq_scanned_rows(connection: Connection, plan: Plan) -> Plan:
    rows = {}
    for scan in plan.seq_scans:
        name = scan.split(" on ", 1)[1].split()[0]
        rows[name] = connection.execute(select(func.count()).select_from(table(name))).scalar_one()
    return replace(plan, seq_scanned_rows=rows)

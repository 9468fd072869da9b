"""One `authserver serve --workers 2` on a throwaway PostgreSQL database, its signing keys
in the database store, seeded with the drill's clients and user (compromise, rotation)."""

import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from postgres import throwaway_database
from seeding import Seed, seed_database
from servers import Server, drill_environment


@dataclass(frozen=True)
class Deployment:
    database_url: str
    seed: Seed
    server: Server
    environment: dict[str, str]  # for `authserver` commands against it, issuer included


def start_on_database_key_store(stack: ExitStack, families: int, **settings: str) -> Deployment:
    """Started within `stack`, which removes it all (Ctrl-C included)."""
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="authserver-drill-")))
    database_url = stack.enter_context(throwaway_database())
    seed = seed_database(database_url, families=families)
    environment = drill_environment(
        database_url, workdir / "keys", AUTHSERVER_KEYS_STORE="database", **settings
    )
    server = stack.enter_context(Server(environment, workdir / "server.log", workers=2))
    environment = {"AUTHSERVER_ISSUER": server.base_url, **environment}
    return Deployment(database_url, seed, server, environment)

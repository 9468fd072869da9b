"""Initial access tokens (RFC 7591 §3) on both databases: each use is taken atomically, so
racing registrations never exceed a token's uses."""

import threading
import time
from datetime import timedelta

from authserver.clock import utcnow
from authserver.db import Database
from authserver.registration.tokens import issue_initial_access_token, use_initial_access_token

RACERS = 6


def test_racing_uses_of_a_token_take_exactly_its_uses(database: Database) -> None:
    """Each racer takes a use and holds its transaction open a moment before committing."""
    with database.transaction() as session:
        issued = issue_initial_access_token(session, utcnow(), timedelta(hours=1), max_uses=2)
    start = threading.Barrier(RACERS)
    taken: list[str | None] = []

    def race() -> None:
        start.wait()
        with database.transaction() as session:
            taken.append(use_initial_access_token(session, issued.token, utcnow()))
            time.sleep(0.05)

    threads = [threading.Thread(target=race) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken.count(issued.token_id) == 2
    assert taken.count(None) == RACERS - 2


def test_an_expired_or_unknown_token_takes_nothing(database: Database) -> None:
    issued_at = utcnow() - timedelta(hours=2)
    with database.transaction() as session:
        issued = issue_initial_access_token(session, issued_at, timedelta(hours=1), max_uses=5)
        assert use_initial_access_token(session, issued.token, utcnow()) is None
        assert use_initial_access_token(session, "no-such-token", utcnow()) is None
        # Just before it expired, it worked.
        assert use_initial_access_token(session, issued.token, issued_at) == issued.token_id

"""The outbox on the real databases: what a session's end enqueues, claims that two
processes never share, backoff and give-up, and the outbound address rule
(CONTRACT.md "Outbound requests": no loopback, private, link-local or metadata address
unless AUTHSERVER_OUTBOUND_ALLOW_PRIVATE)."""

from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from authserver.backchannel.delivery import OutboxDelivery
from authserver.backchannel.models import OutboxMessage
from authserver.backchannel.outbound import outbound_refusal
from authserver.backchannel.outbox import claim_due, enqueue_session_logout, undelivered
from authserver.clock import utcnow
from authserver.db import Database
from authserver.keys.keyring import KeyRing
from authserver.keys.store import FileKeyStore
from authserver.login.sessions import SignedIn, end_expired_sessions, start_session
from authserver.tokens.models import TokenFamily
from tests.conftest import make_settings
from tests.e2e.logout_receiver import running_receiver
from tests.factories import make_user, make_web_app


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/logout",
        "http://localhost/logout",
        "http://10.1.2.3/logout",
        "http://192.168.0.10/logout",
        "http://172.16.5.4/logout",
        "http://169.254.169.254/latest/meta-data",
        "http://100.64.0.1/logout",
        "http://[::1]/logout",
        "http://[fd00::1]/logout",
        "http://[fe80::1]/logout",
        "http://0.0.0.0/logout",
        "http://224.0.0.1/logout",
    ],
)
def test_non_public_addresses_are_refused_unless_allowed(url: str) -> None:
    assert outbound_refusal(url, allow_private=False) is not None
    assert outbound_refusal(url, allow_private=True) is None


def test_a_public_address_is_allowed_and_other_schemes_never() -> None:
    assert outbound_refusal("https://93.184.216.34/logout", allow_private=False) is None
    assert outbound_refusal("ftp://93.184.216.34/logout", allow_private=True) is not None
    assert outbound_refusal("https://no-such-host.invalid/x", allow_private=False) is not None


def session_with_family(database: Database, client_id: str, user_id: int) -> str:
    now = utcnow()
    with database.transaction() as db:
        started = start_session(db, SignedIn(user_id, "alice", "pwd"), now, timedelta(hours=1))
        db.add(
            TokenFamily(
                id=started.session.sid + "-f",
                client_id=client_id,
                user_id=user_id,
                session_id=started.session.sid,
                auth_time=now,
                expires_at=now + timedelta(days=1),
            )
        )
    return started.session.sid


def test_a_session_enqueues_one_message_per_client_with_an_endpoint(database: Database) -> None:
    user = make_user(database)
    told, _ = make_web_app(database, backchannel_logout_uri="https://rp.example.test/bcl")
    silent, _ = make_web_app(database, name="Silent")
    assert user.id is not None
    sid = session_with_family(database, told.client_id, user.id)
    with database.transaction() as db:
        db.add(
            TokenFamily(
                id="silent-family",
                client_id=silent.client_id,
                user_id=user.id,
                session_id=sid,
                auth_time=utcnow(),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
    with database.transaction() as db:
        assert enqueue_session_logout(db, sid, user.id, utcnow()) == 1
    with database.reading() as db:
        [message] = undelivered(db)
    assert (message.client_id, message.sid, message.subject) == (told.client_id, sid, str(user.id))


def test_concurrent_claims_never_share_a_message(database: Database) -> None:
    now = utcnow()
    with database.transaction() as db:
        for number in range(10):
            db.add(
                OutboxMessage(
                    kind="backchannel_logout",
                    client_id="c",
                    target_uri="https://rp.example.test/bcl",
                    sid=f"s{number}",
                    created_at=now,
                    next_attempt_at=now,
                )
            )
    if database.engine.dialect.name == "postgresql":
        # Another process claims while the first one's transaction is still open: SKIP
        # LOCKED hands it the other rows at once, without waiting.
        with database.transaction() as first:
            mine = claim_due(first, now, 6)
            with database.separate_transaction() as second:
                theirs = claim_due(second, now, 6)
    else:  # SQLite's single writer serializes the two claims
        with database.transaction() as first:
            mine = claim_due(first, now, 6)
        with database.transaction() as second:
            theirs = claim_due(second, now, 6)
    assert len(mine) == 6 and len(theirs) == 4
    assert not {m.id for m in mine} & {t.id for t in theirs}
    with database.transaction() as db:
        assert claim_due(db, now, 10) == []  # all claimed until the lease passes
        assert len(claim_due(db, now + timedelta(seconds=31), 10)) == 10


def test_production_mode_refuses_a_loopback_endpoint_without_sending(
    database: Database, keys_dir: Path
) -> None:
    """Recorded as failed with the reason; the receiver on loopback never hears of it."""
    with running_receiver() as receiver:
        user = make_user(database)
        client, _ = make_web_app(database, backchannel_logout_uri=receiver.url)
        assert user.id is not None
        sid = session_with_family(database, client.client_id, user.id)
        with database.transaction() as db:
            enqueue_session_logout(db, sid, user.id, utcnow())
        settings = make_settings(
            database_url=database.url, keys_dir=keys_dir, outbound_allow_private=False
        )
        delivery = OutboxDelivery(
            settings, database, KeyRing(FileKeyStore(keys_dir, None), timedelta(0))
        )
        with httpx.Client() as http:
            assert delivery.run_once(http, utcnow()) == 1
        with database.reading() as db:
            [message] = undelivered(db)
        assert message.attempts == 1 and "non-public address" in (message.last_error or "")
        assert receiver.received() == [] and receiver.refused == 0


def test_the_sweep_ends_expired_sessions_once(database: Database) -> None:
    user = make_user(database)
    client, _ = make_web_app(database, backchannel_logout_uri="https://rp.example.test/bcl")
    assert user.id is not None
    sid = session_with_family(database, client.client_id, user.id)
    later = utcnow() + timedelta(hours=2)
    with database.transaction() as db:
        assert end_expired_sessions(db, later, timedelta(hours=1)) == 1
    with database.transaction() as db:
        assert end_expired_sessions(db, later, timedelta(hours=1)) == 0
    with database.reading() as db:
        assert [m.sid for m in undelivered(db)] == [sid]

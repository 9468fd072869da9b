"""`db purge`: expired rows go, live ones stay (on SQLite and PostgreSQL)."""

from datetime import timedelta

from sqlmodel import select

from authserver.audit.models import AuditEvent
from authserver.backchannel.models import OutboxMessage
from authserver.clock import utcnow
from authserver.db import Database
from authserver.device_flow.models import DeviceAuthorization
from authserver.factors.models import PendingSignIn
from authserver.housekeeping import CODE_MEMORY, purge_expired
from authserver.login.models import KnownDevice, LoginSession, LoginThrottle
from authserver.login.sessions import SignedIn, start_session
from authserver.login.throttle import FORGET_AFTER
from authserver.par.models import PushedAuthorizationRequest
from authserver.passkeys.models import WebAuthnChallenge
from authserver.registration.models import InitialAccessToken
from authserver.replay.models import UsedJti
from authserver.statuslists.models import StatusList
from authserver.tokens.families import issue_refresh_token, start_family
from authserver.tokens.models import AuthorizationCode, RefreshToken, TokenFamily
from authserver.tokens.repository import DenyList
from authserver.upstream.models import UpstreamProvider, UpstreamRequest
from tests.factories import make_user, make_web_app

ACCESS_TTL = timedelta(minutes=15)


def test_purge_deletes_only_what_nothing_can_accept_any_more(database: Database) -> None:
    user = make_user(database)
    client, _ = make_web_app(database)
    now = utcnow()
    long_ago = now - timedelta(days=30)
    assert user.id is not None
    with database.transaction() as session:
        for moment, ttl in ((long_ago, timedelta(days=7)), (now, timedelta(days=7))):
            family = start_family(
                session, client_id=client.client_id, user_id=user.id, session_id=None,
                scope="openid", auth_time=moment, now=moment, ttl=ttl,
            )  # fmt: skip
            issue_refresh_token(session, family, moment, None)
        start_session(session, SignedIn(user.id, "alice", "pwd"), long_ago, timedelta(hours=1))
        start_session(session, SignedIn(user.id, "alice", "pwd"), now, timedelta(hours=1))
        for moment in (long_ago, now):
            session.add(
                AuthorizationCode(
                    code_hash=str(moment.timestamp()), client_id=client.client_id,
                    user_id=user.id, redirect_uri="https://app.example.test/callback",
                    code_challenge="c" * 43, code_challenge_method="S256", auth_time=moment,
                    expires_at=moment + timedelta(seconds=60),
                )
            )  # fmt: skip
        DenyList(session).add("old", now - timedelta(seconds=1))
        DenyList(session).add("live", now + timedelta(minutes=5))
        session.add(LoginThrottle(key="ip:old", not_before=long_ago, updated_at=long_ago))
        session.add(LoginThrottle(key="ip:new", not_before=now, updated_at=now))
        for token_hash, expires_at in (
            ("old", now - timedelta(seconds=1)),
            ("new", now + timedelta(days=1)),
        ):
            session.add(
                KnownDevice(
                    token_hash=token_hash, user_id=user.id, created_at=now, expires_at=expires_at
                )
            )
        for age in (timedelta(days=91), timedelta(days=89)):
            session.add(AuditEvent(occurred_at=now - age, event="login.failed"))
        # Expired an hour ago, not yet ended by the outbox's sweep: its clients have not
        # been told (back-channel logout), so it stays.
        start_session(
            session, SignedIn(user.id, "alice", "pwd"), now - timedelta(hours=2), timedelta(hours=1)
        )
        for created, expires in ((long_ago, now - timedelta(seconds=1)), (now, now + ACCESS_TTL)):
            session.add(
                StatusList(
                    id=f"list-{created.timestamp()}", size=16, permutation_key="00" * 16,
                    created_at=created, open_until=created, expires_at=expires,
                )
            )  # fmt: skip
        for delivered, given_up in (
            (now - timedelta(days=2), None),  # delivered long enough ago: deleted
            (now - timedelta(hours=1), None),  # delivered today: kept
            (None, now - timedelta(days=91)),  # given up past the audit retention: deleted
            (None, now - timedelta(days=1)),  # given up lately: kept
            (None, None),  # pending: kept
        ):
            session.add(
                OutboxMessage(
                    kind="backchannel_logout", client_id=client.client_id,
                    target_uri="https://rp.example.test/bcl", created_at=long_ago,
                    next_attempt_at=long_ago, delivered_at=delivered, given_up_at=given_up,
                )
            )  # fmt: skip
        for token_hash, expires in (("old", now), ("new", now + timedelta(minutes=1))):
            session.add(
                InitialAccessToken(
                    token_hash=token_hash, created_at=long_ago, expires_at=expires, max_uses=1
                )
            )
        # A device authorization is kept a day past its expiry, like a code.
        for code, expires in (("old", now - timedelta(days=2)), ("new", now - timedelta(hours=1))):
            session.add(
                DeviceAuthorization(
                    device_code_hash=code, user_code=code.upper().ljust(8, "X"),
                    client_id=client.client_id, interval=5, created_at=expires,
                    expires_at=expires,
                )
            )  # fmt: skip
        # Sign-ins waiting for a second factor, passkey challenges and upstream sign-ins in
        # flight: deleted once expired.
        session.add(
            UpstreamProvider(
                name="corp", display_name="Corp", issuer="https://idp.example.test",
                client_id="authserver", created_at=now,
            )
        )  # fmt: skip
        for key, expires in (
            ("old", now - timedelta(seconds=1)),
            ("new", now + timedelta(minutes=1)),
        ):
            session.add(
                PendingSignIn(
                    secret_hash=key, user_id=user.id, amr="pwd", created_at=now, expires_at=expires
                )
            )
            session.add(
                WebAuthnChallenge(
                    challenge_hash=key, purpose="sign-in", binding="b", expires_at=expires
                )
            )
            session.add(
                UpstreamRequest(
                    state_hash=key, provider="corp", nonce="n", code_verifier="v", binding="b",
                    expires_at=expires,
                )
            )  # fmt: skip
            # A pushed authorization request (RFC 9126) and a used jti (RFC 7523, RFC 9449):
            # once expired, neither can be presented again.
            session.add(
                PushedAuthorizationRequest(
                    reference_hash=key, client_id=client.client_id, parameters=[],
                    expires_at=expires,
                )
            )  # fmt: skip
            session.add(UsedJti(key_hash=key, expires_at=expires))

    with database.transaction() as session:
        purged = purge_expired(session, now, ACCESS_TTL, audit_retention=timedelta(days=90))

    assert purged.as_dict() == {
        "authorization_codes": 1,
        "sessions": 1,
        "token_families": 1,
        "revoked_access_tokens": 1,
        "login_throttle": 1,
        "known_devices": 1,
        "audit_events": 1,
        "status_lists": 1,
        "outbox_messages": 2,
        "device_authorizations": 1,
        "initial_access_tokens": 1,
        "webauthn_challenges": 1,
        "upstream_requests": 1,
        "pending_sign_ins": 1,
        "pushed_authorization_requests": 1,
        "used_jtis": 1,
    }
    with database.transaction() as session:
        assert len(session.exec(select(TokenFamily)).all()) == 1
        # A family's refresh tokens go with it.
        assert len(session.exec(select(RefreshToken)).all()) == 1
        assert len(session.exec(select(LoginSession)).all()) == 2
        assert len(session.exec(select(StatusList)).all()) == 1
        assert len(session.exec(select(OutboxMessage)).all()) == 3
        assert len(session.exec(select(AuthorizationCode)).all()) == 1
        assert len(session.exec(select(LoginThrottle)).all()) == 1
        assert len(session.exec(select(KnownDevice)).all()) == 1
        assert len(session.exec(select(AuditEvent)).all()) == 1
    assert timedelta(days=30) > CODE_MEMORY and timedelta(days=30) > FORGET_AFTER

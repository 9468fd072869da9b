"""Every table, imported in one place for Alembic and the tests."""

from authserver.audit.models import AuditEvent
from authserver.backchannel.models import OutboxMessage
from authserver.clients.models import Client
from authserver.device_flow.models import DeviceAuthorization
from authserver.factors.models import PendingSignIn, RecoveryCode, TotpFactor
from authserver.keys.models import SigningKey
from authserver.leases import Lease
from authserver.login.models import Consent, LoginSession, LoginThrottle
from authserver.par.models import PushedAuthorizationRequest
from authserver.passkeys.models import Passkey, WebAuthnChallenge
from authserver.registration.models import InitialAccessToken
from authserver.replay.models import UsedJti
from authserver.statuslists.models import (
    StatusAssignment,
    StatusBlock,
    StatusList,
    StatusRevocation,
)
from authserver.tokens.models import (
    AuthorizationCode,
    RefreshToken,
    RevokedAccessToken,
    TokenFamily,
)
from authserver.upstream.models import UpstreamLink, UpstreamProvider, UpstreamRequest
from authserver.users.models import User

__all__ = [
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "Consent",
    "DeviceAuthorization",
    "InitialAccessToken",
    "Lease",
    "LoginSession",
    "LoginThrottle",
    "OutboxMessage",
    "Passkey",
    "PendingSignIn",
    "PushedAuthorizationRequest",
    "RecoveryCode",
    "RefreshToken",
    "RevokedAccessToken",
    "SigningKey",
    "StatusAssignment",
    "StatusBlock",
    "StatusList",
    "StatusRevocation",
    "TokenFamily",
    "TotpFactor",
    "UpstreamLink",
    "UpstreamProvider",
    "UpstreamRequest",
    "UsedJti",
    "User",
    "WebAuthnChallenge",
]

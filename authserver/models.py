"""Every table, imported in one place for Alembic and the tests."""

from authserver.audit.models import AuditEvent
from authserver.backchannel.models import OutboxMessage
from authserver.clients.models import Client
from authserver.device_flow.models import DeviceAuthorization
from authserver.keys.models import SigningKey
from authserver.leases import Lease
from authserver.login.models import Consent, LoginSession, LoginThrottle
from authserver.registration.models import InitialAccessToken
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
    "RefreshToken",
    "RevokedAccessToken",
    "SigningKey",
    "StatusAssignment",
    "StatusBlock",
    "StatusList",
    "StatusRevocation",
    "TokenFamily",
    "User",
]

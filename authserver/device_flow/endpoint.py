"""The device authorization endpoint (RFC 8628 §3.1-3.2): a device asks, and gets a
device code to poll with and a user code to show."""

from typing import Any, ClassVar

from authlib.oauth2.rfc8628 import DEVICE_CODE_GRANT_TYPE
from authlib.oauth2.rfc8628 import DeviceAuthorizationEndpoint as _DeviceAuthorizationEndpoint

from authserver.clock import utcnow
from authserver.device_flow.codes import formatted, new_user_code
from authserver.device_flow.models import DeviceAuthorization
from authserver.device_flow.repository import DeviceAuthorizationRepository
from authserver.errors import UnauthorizedClientError
from authserver.grants.resource import resolve_audience
from authserver.grants.scope import resolve_scope
from authserver.opaque import new_opaque_secret, opaque_hash

DEVICE_AUTHORIZATION_PATH = "/device_authorization"
VERIFICATION_PATH = "/device"
# 20^8 user codes against the few alive at once: a clash is rare, two in a row rarer.
_USER_CODE_TRIES = 5


class DeviceAuthorizationEndpoint(_DeviceAuthorizationEndpoint):
    CLIENT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]

    def create_endpoint_response(self, request: Any) -> tuple[int, dict[str, Any], list]:
        """RFC 8628 §3.1: the client authenticates (or names itself, if public) and asks
        for a scope, and RFC 8707 resources; §3.2: the answer."""
        settings = self.server.settings
        client = self.authenticate_client(request)
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the device authorization grant.")
        scope = resolve_scope(client, request.payload.scope)
        resources = request.payload.datalist.get("resource", [])
        audience = resolve_audience(client, resources, settings.audience)
        device_code = new_opaque_secret()
        now = utcnow()
        authorizations = DeviceAuthorizationRepository(request.db)
        user_code = self._unused_user_code(authorizations)
        authorizations.add(
            DeviceAuthorization(
                device_code_hash=opaque_hash(device_code),
                user_code=user_code,
                client_id=client.client_id,
                scope=scope,
                audience=[audience] if isinstance(audience, str) else audience,
                interval=settings.device_code_interval,
                created_at=now,
                expires_at=now + settings.device_code_ttl,
            )
        )
        verification_uri = settings.issuer + VERIFICATION_PATH
        shown = formatted(user_code)
        body = {
            "device_code": device_code,
            "user_code": shown,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?user_code={shown}",
            "expires_in": int(settings.device_code_ttl.total_seconds()),
            "interval": settings.device_code_interval,
        }
        return 200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")]

    @staticmethod
    def _unused_user_code(authorizations: DeviceAuthorizationRepository) -> str:
        for _ in range(_USER_CODE_TRIES - 1):
            candidate = new_user_code()
            if not authorizations.user_code_taken(candidate):
                return candidate
        # Left to the unique index: a clash now fails the request rather than two users
        # sharing a code.
        return new_user_code()

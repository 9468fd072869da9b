"""The device code grant at the token endpoint (RFC 8628 §3.4-3.5).

Each poll reads the authorization once: still pending (`authorization_pending`, or
`slow_down` when polled sooner than its interval, which then grows by 5 s), denied
(`access_denied`), expired (`expired_token`), or approved: consumed by one conditional
UPDATE in the transaction that starts its token family, so that two polls cannot both
get tokens. The poll's moment and interval are written even when the answer is an
error (the token endpoint commits OAuth errors).
"""

from datetime import timedelta
from typing import Any, ClassVar

from authlib.oauth2.rfc8628 import AuthorizationPendingError, ExpiredTokenError, SlowDownError
from authlib.oauth2.rfc8628 import DeviceCodeGrant as _DeviceCodeGrant

from authserver.clock import utcnow
from authserver.device_flow.models import APPROVED, CONSUMED, DENIED, DeviceAuthorization
from authserver.device_flow.repository import DeviceAuthorizationRepository
from authserver.errors import (
    AccessDeniedError,
    InvalidGrantError,
    InvalidRequestError,
    UnauthorizedClientError,
)
from authserver.grants.resource import refreshed_audience
from authserver.opaque import opaque_hash
from authserver.users.models import User

# RFC 8628 §3.5: "the interval MUST be increased by 5 seconds for this and all
# subsequent requests".
SLOW_DOWN_STEP = 5


class DeviceCodeGrant(_DeviceCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]

    def validate_token_request(self) -> None:
        client = self.authenticate_token_endpoint_client()
        if not client.check_grant_type(self.GRANT_TYPE):
            raise UnauthorizedClientError("This client may not use the device code grant.")
        device_code = self.request.payload.data.get("device_code")
        if not device_code:
            raise InvalidRequestError("The device_code parameter is required.")
        authorizations = DeviceAuthorizationRepository(self.request.db)
        authorization = authorizations.find(opaque_hash(device_code))
        # RFC 6749 §5.2: a grant that is invalid or was issued to another client.
        if authorization is None or authorization.client_id != client.client_id:
            raise InvalidGrantError("The device code is not valid.")
        self.request.client = client
        self.request.credential = authorization
        self.request.user = self._granted_user(authorizations, authorization)

    def _granted_user(
        self, authorizations: DeviceAuthorizationRepository, authorization: DeviceAuthorization
    ) -> User:
        db = self.request.db
        now = utcnow()
        if authorization.status == CONSUMED:
            raise InvalidGrantError("The device code was already used.")
        if authorization.expires_at <= now:
            raise ExpiredTokenError()
        if authorization.status == DENIED:
            raise AccessDeniedError("The user denied the authorization.")
        if authorization.status == APPROVED:
            user = db.get(User, authorization.user_id)
            if user is None or user.disabled:
                raise InvalidGrantError("The user who approved this device is disabled.")
            return user
        interval = authorization.interval
        last = authorization.last_polled_at
        too_soon = last is not None and now - last < timedelta(seconds=interval)
        authorizations.note_poll(
            authorization.device_code_hash, interval + SLOW_DOWN_STEP if too_soon else interval, now
        )
        if too_soon:
            raise SlowDownError()
        raise AuthorizationPendingError()

    def create_token_response(self) -> tuple[int, Any, Any]:
        authorization: DeviceAuthorization = self.request.credential
        if not DeviceAuthorizationRepository(self.request.db).consume(
            authorization.device_code_hash
        ):
            # A concurrent poll with the same device code got there first.
            raise InvalidGrantError("The device code was already used.")
        return super().create_token_response()

    def generate_token(
        self, user: User, scope: str, include_refresh_token: bool = False, **_: Any
    ) -> dict[str, Any]:
        settings = self.server.settings
        client = self.request.client
        authorization: DeviceAuthorization = self.request.credential
        resources = self.request.payload.datalist.get("resource", [])
        # RFC 8707 §2.2: the token request may narrow what was granted, never widen it.
        audience = refreshed_audience(client, resources, settings.audience, authorization.audience)
        family, body = self.server.new_family_tokens(
            self.request,
            user_id=user.id,
            # The approving browser's session is another device's: signing out there
            # does not sign this device out.
            session_id=None,
            scope=authorization.scope,
            auth_time=authorization.auth_time or utcnow(),
            audience=audience,
            include_refresh_token=include_refresh_token,
        )
        DeviceAuthorizationRepository(self.request.db).record_family(
            authorization.device_code_hash, family.id
        )
        return body

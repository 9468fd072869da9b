"""Receiving a Logout Token in a client (OpenID Connect Back-Channel Logout 1.0 §2.6).

    logout_tokens = LogoutTokenValidator("https://auth.example.test", client_id="my-app")
    logout = logout_tokens.validate(form["logout_token"])  # InvalidLogoutToken: answer 400
    end_local_sessions(sid=logout.sid, sub=logout.sub)

The checks §2.6 lists, in its order: a JWS signed with a key of the issuer's JWKS (the
verifier's key cache: discovery, `Cache-Control`, refetch on an unknown `kid`), an allowed
`alg`, `typ: logout+jwt`, `iss` the issuer, `aud` this client, `iat` within the last
`max_age` (and not in the future beyond the leeway), `exp` not passed, a `sub` or a `sid`,
the back-channel logout member of `events`, no `nonce`, and a `jti` not seen before
(remembered in this process until the token expires; a service with several processes
that must refuse a replay across them keeps its own shared record).
"""

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import httpx

from authserver.jose import JwtRejected, JwtRules, JwtValidator
from authserver.jose.claims import LOGOUT_EVENT, LOGOUT_TOKEN_TYPE
from authserver.resource.discovery import check_configured_endpoint, check_issuer
from authserver.resource.errors import InvalidToken
from authserver.resource.jwks import KeyCache
from authserver.resource.verifier import ISSUER_ALGORITHMS, Duration, seconds_of

_MAX_REMEMBERED = 100_000


class InvalidLogoutToken(ValueError):
    """The Logout Token is not valid: §2.8 says answer 400 Bad Request."""


@dataclass(frozen=True)
class Logout:
    """Whom to sign out: the session `sid` and/or every session of `sub`."""

    sid: str | None
    sub: str | None
    jti: str
    iat: int


class LogoutTokenValidator:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        *,
        algorithms: tuple[str, ...] = ISSUER_ALGORITHMS,
        leeway: Duration = timedelta(seconds=60),
        max_age: Duration = timedelta(minutes=5),
        jwks_uri: str | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.issuer = check_issuer(issuer)
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("the client_id must be a non-empty string")
        self._leeway = int(seconds_of(leeway, "leeway"))
        self._max_age = seconds_of(max_age, "max_age")
        self._validator = JwtValidator(
            JwtRules(
                typ=LOGOUT_TOKEN_TYPE,
                issuer=self.issuer,
                audience=client_id,
                algorithms=frozenset(algorithms),
                required=frozenset({"iss", "aud", "iat", "exp", "jti", "events"}),
                leeway=self._leeway,
                expiry_leeway=self._leeway,
            )
        )
        self._keys = KeyCache(
            self.issuer,
            jwks_uri=check_configured_endpoint(jwks_uri, self.issuer, "jwks_uri"),
            max_cache=3600.0,
            min_refetch_interval=60.0,
            http=http,
            async_http=None,
        )
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def validate(self, logout_token: object) -> Logout:
        """The logout the token asks for; InvalidLogoutToken for any token not to act on."""
        now = time.time()
        try:
            parsed = self._validator.read(logout_token)
            claims = self._validator.finish(
                parsed, self._keys.verification_key(parsed.kid), int(now)
            )
        except (JwtRejected, InvalidToken) as error:
            raise InvalidLogoutToken(str(error)) from None
        events = claims["events"]
        if not isinstance(events, dict) or not isinstance(events.get(LOGOUT_EVENT), dict):
            raise InvalidLogoutToken("the token's events has no back-channel logout member")
        if "nonce" in claims:
            raise InvalidLogoutToken("a Logout Token must not carry a nonce")
        sid, sub = claims.get("sid"), claims.get("sub")
        if sid is None and sub is None:
            raise InvalidLogoutToken("the token names neither a sid nor a sub")
        if sid is not None and (not isinstance(sid, str) or not sid):
            raise InvalidLogoutToken("the token's sid must be a non-empty string")
        if now - claims["iat"] > self._max_age + self._leeway:
            raise InvalidLogoutToken("the token was issued too long ago (iat)")
        self._remember(claims["jti"], float(claims["exp"] + self._leeway), now)
        return Logout(sid=sid, sub=sub, jti=claims["jti"], iat=claims["iat"])

    def _remember(self, jti: str, until: float, now: float) -> None:
        with self._lock:
            if jti in self._seen and self._seen[jti] > now:
                raise InvalidLogoutToken("the token was already received (jti)")
            if len(self._seen) >= _MAX_REMEMBERED:
                self._seen = {j: t for j, t in self._seen.items() if t > now}
            self._seen[jti] = until

    def close(self) -> None:
        self._keys.close()

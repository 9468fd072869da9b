"""`private_key_jwt` (RFC 7523 §2.2 and §3, OpenID Connect Core §9): a client proves who it
is with a JWT it signed with one of its registered keys, each JWT accepted once.

The order keeps the expensive steps for assertions that could pass: the claims first
(no I/O), then the client's keys (a `jwks_uri` may be fetched) and the signature, and
only for a signed assertion the `jti` write, so nobody can spend a client's `jti`s.
"""

from authlib.oauth2.rfc6749 import OAuth2Request

from authserver.clients.assertions import ClientAssertion, check_claims, verify_signature
from authserver.clients.key_sets import ClientKeySets
from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.jose import JwtRejected
from authserver.replay import ReplayGuard

REPLAY_PURPOSE = "client_assertion"


class AssertionVerifier:
    def __init__(
        self, issuer: str, leeway_seconds: int, replay: ReplayGuard, key_sets: ClientKeySets
    ) -> None:
        self._issuer = issuer
        self._leeway = leeway_seconds
        self._replay = replay
        self.key_sets = key_sets

    def verify(self, assertion: ClientAssertion, client: Client, request: OAuth2Request) -> None:
        """Returns once `assertion` authenticates `client` on `request`; else JwtRejected
        with the reason (for the log: the caller only learns that authentication failed)."""
        now = int(utcnow().timestamp())
        jti, exp = check_claims(
            assertion.claims, client.client_id, self.audiences(request), now, self._leeway
        )
        keys = self.key_sets.keys_of(client)
        if assertion.kid is not None and not any(k.jwk.get("kid") == assertion.kid for k in keys):
            # OIDC Core §10.1.1: a client that rotated its keys publishes the new one first.
            keys = self.key_sets.refetch(client) or keys
        verify_signature(assertion, keys)
        # RFC 7523 §3 item 7: a `jti` is used once, remembered for as long as the
        # assertion could be accepted (its `exp` plus the leeway).
        db = getattr(request, "db", None)
        if not self._replay.first_use(
            REPLAY_PURPOSE, client.client_id, jti, exp + self._leeway + 1, db=db
        ):
            raise JwtRejected("the assertion's jti was used before")

    def audiences(self, request: OAuth2Request) -> frozenset[str]:
        """RFC 7523 §3 item 3: the issuer identifier (FAPI 2.0 §5.3.2.1 item 8, RFC 7523bis),
        the token endpoint, or the endpoint the assertion is presented at."""
        return frozenset({self._issuer, f"{self._issuer}/token", request.uri})

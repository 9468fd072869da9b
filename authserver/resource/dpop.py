"""DPoP-bound tokens at a resource service (RFC 9449 §7): the request's proof checked
against the token it comes with, for `Verifier` and `Introspector` alike.

A token bound to a key (`cnf.jkt`, §6.1 in a JWT, §6.2 in an introspection answer) is
accepted only with `Authorization: DPoP` and a proof of that key for this request: its
method, its URL, this token (`ath`), recent, never seen before (§4.3, §7.1). A bound
token sent as a bearer token is refused (§7.2), and so is an unbound token sent with the
DPoP scheme. Server nonces (§9) are not asked for here.
"""

import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from authserver.dpop import (
    DPOP_ALGORITHMS,
    ProofRejected,
    ProofReplayStore,
    SeenProofs,
    bound_key,
    check_proof,
    single_proof,
)
from authserver.jose import JwtRejected
from authserver.resource.bearer import access_token_credentials
from authserver.resource.claims import Claims
from authserver.resource.errors import BearerTokenError, InvalidDPoPProof, InvalidToken

Duration = timedelta | float
HeaderValues = Sequence[str] | str | None
MAX_PROOF_AGE = timedelta(minutes=5)


class PossessionCheck:
    """The DPoP rules of one verifier: proof algorithms, how old a proof may be, the clock
    skew allowed, and where the proofs seen are remembered (see `authserver.dpop.replay`)."""

    def __init__(
        self,
        *,
        algorithms: Sequence[str],
        max_age: float,
        leeway: int,
        replay: ProofReplayStore | None,
        max_proofs: int,
    ) -> None:
        chosen = frozenset(algorithms)
        if not chosen or not chosen <= DPOP_ALGORITHMS:
            raise ValueError(f"dpop_algorithms must be among {', '.join(sorted(DPOP_ALGORITHMS))}")
        if not 1 <= max_age <= MAX_PROOF_AGE.total_seconds():
            raise ValueError("dpop_max_age must be between 1 second and 5 minutes")
        if max_proofs < 1:
            raise ValueError("dpop_max_proofs must be at least 1")
        self.algorithms = chosen
        self.max_age = int(max_age)
        self.leeway = leeway
        self._replay: ProofReplayStore = replay if replay is not None else SeenProofs(max_proofs)

    def credentials(self, authorization: HeaderValues) -> tuple[str, str]:
        """(scheme, token) of the request; InvalidToken when it has none."""
        found = access_token_credentials(_values(authorization))
        if found is None:
            raise InvalidToken("the request has no Bearer or DPoP access token")
        return found

    def verify_request(
        self,
        verify: Callable[[str], Claims],
        authorization: HeaderValues,
        dpop: HeaderValues,
        method: str,
        url: str,
    ) -> Claims:
        """The request's token checked by `verify` (a `Verifier`'s or an `Introspector`'s),
        then its proof when it is DPoP-bound (§7.1); errors in the request's scheme."""
        scheme, token = self.credentials(authorization)
        try:
            claims = verify(token)
        except BearerTokenError as error:
            raise self.in_scheme(error, scheme) from None
        return self.check(claims, scheme, token, dpop, method, url)

    async def averify_request(
        self,
        verify: Callable[[str], Awaitable[Claims]],
        authorization: HeaderValues,
        dpop: HeaderValues,
        method: str,
        url: str,
    ) -> Claims:
        """As `verify_request`, with an async `verify`."""
        scheme, token = self.credentials(authorization)
        try:
            claims = await verify(token)
        except BearerTokenError as error:
            raise self.in_scheme(error, scheme) from None
        return self.check(claims, scheme, token, dpop, method, url)

    def in_scheme(self, error: BearerTokenError, scheme: str) -> BearerTokenError:
        """`error`, with the DPoP challenge when the request used that scheme (§7.2)."""
        return error.in_dpop_scheme(self.algorithms) if scheme == "dpop" else error

    def check(
        self,
        claims: Claims,
        scheme: str,
        token: str,
        dpop: HeaderValues,
        method: str,
        url: str,
    ) -> Claims:
        """`claims`, once the request proves possession of the key the token is bound to."""
        jkt = _bound_key(claims)
        if scheme == "bearer":
            if jkt is not None:
                # §7.2: a DPoP-bound token received as a bearer token is refused.
                raise InvalidToken("the token is DPoP-bound: send it with the DPoP scheme")
            return claims
        if jkt is None:
            raise InvalidToken("the token is not DPoP-bound").in_dpop_scheme(self.algorithms)
        now = int(time.time())
        try:
            value = single_proof(_values(dpop))
            if value is None:
                raise ProofRejected("the request has no DPoP proof")
            proof = check_proof(
                value,
                method=method,
                url=url,
                now=now,
                max_age=self.max_age,
                leeway=self.leeway,
                access_token=token,
                algorithms=self.algorithms,
            )
        except ProofRejected as error:
            raise InvalidDPoPProof(str(error)).in_dpop_scheme(self.algorithms) from None
        if proof.jkt != jkt:
            # §4.3 step 12, §6: the proof's key is the one the token is bound to.
            error = InvalidToken("the DPoP proof is not signed by the token's key")
            raise error.in_dpop_scheme(self.algorithms)
        # §11.1: each proof once, within the window it would be accepted in.
        expires_at = proof.iat + self.max_age + self.leeway
        if not self._replay.first_use(f"{proof.jkt} {proof.jti}", expires_at, now):
            error = InvalidDPoPProof("the DPoP proof was already used, or cannot be remembered")
            raise error.in_dpop_scheme(self.algorithms)
        return claims

    def refuse_bound(self, claims: Claims) -> Claims:
        """A token presented as a bearer token, without the request (§7.2)."""
        if _bound_key(claims) is not None:
            raise InvalidToken("the token is DPoP-bound: verify it with its request")
        return claims


def _bound_key(claims: Claims) -> str | None:
    try:
        return bound_key(claims)
    except JwtRejected as error:
        raise InvalidToken(str(error)) from None


def _values(header: HeaderValues) -> Sequence[str]:
    if header is None:
        return ()
    return (header,) if isinstance(header, str) else header

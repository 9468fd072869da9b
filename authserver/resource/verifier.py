"""Verifying JWT access tokens in a resource service, offline (RFC 9068 §4, RFC 8725),
bearer or DPoP-bound (RFC 9449 §7).

    verifier = Verifier("https://auth.example.test", audience="https://orders.example.test")
    claims = verifier.verify(token).require_scopes("orders:read")
    claims = verifier.verify_request(authorization, dpop, "GET", "https://orders.example.test/")

One `Verifier` per issuer and audience, shared by every thread (and event loop) of the
service: it holds the issuer's keys (see `jwks.py` for caching and refetching).
"""

import time
from datetime import timedelta
from typing import Self

import httpx

from authserver.dpop import DPOP_ALGORITHMS, ProofReplayStore
from authserver.jose import SUPPORTED_ALGORITHMS, JwtRejected, JwtRules, JwtValidator
from authserver.jose.claims import ACCESS_TOKEN_TYPE
from authserver.resource.claims import Claims
from authserver.resource.discovery import check_configured_endpoint, check_issuer
from authserver.resource.dpop import HeaderValues, PossessionCheck
from authserver.resource.errors import InvalidToken
from authserver.resource.jwks import KeyCache
from authserver.resource.status import StatusLists

Duration = timedelta | float
MAX_LEEWAY = timedelta(minutes=5)
# What an authserver issuer signs with (AUTHSERVER_SIGNING_ALG and its extras). Every key
# of its JWKS names its own `alg`, which alone verifies that key's tokens (RFC 8725 §3.1).
ISSUER_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")


class Verifier:
    """Checks a bearer token as RFC 9068 §4 says, with the issuer's published keys.

    - `issuer`: compared exactly with `iss` and with the discovery document's `issuer`.
    - `audience`: this service's resource indicator (RFC 8707); `aud` must contain it.
    - `algorithms`: the allow-list (RFC 8725 §3.1), by default every alg the issuer may
      sign with; each key is used only with the `alg` its JWKS entry names.
    - `leeway`: clock skew allowed on `exp`, `nbf` and `iat` (seconds or a timedelta).
    - `max_cache`: the longest the JWKS is trusted without asking again, whatever its
      `Cache-Control` says; `min_refetch_interval`: at most one JWKS request per interval.
    - `jwks_uri`: skip discovery; `http` / `async_http`: clients to use (the caller closes
      them), for proxies, custom CAs or tests.
    - Token Status List (draft-ietf-oauth-status-list-18, `status.py`): a token naming
      its entry in a status list is refused once revoked there. `status_max_cache`: the
      longest a list is held before it is fetched again (its `ttl` when shorter);
      `status_max_stale`: how long a held list still serves while no fresh one can be
      fetched; past it the token is refused with IssuerUnavailable (fail closed) unless
      `status_fail_open`. `check_status=False` turns the check off.
    - DPoP (RFC 9449, `verify_request`): `dpop_algorithms`, the proofs' allow-list;
      `dpop_max_age`, how old a proof's `iat` may be (the leeway applies to one in the
      future); each proof is accepted once, remembered in `dpop_replay` (a store shared
      by the service's replicas, see `authserver.dpop.replay`) or else in this process's
      memory, at most `dpop_max_proofs` proofs within their window.

    `verify` (a token sent as a bearer token) and `verify_request` (the request's
    `Authorization` and `DPoP` headers) raise `InvalidToken` for any token they do not
    accept (`InvalidDPoPProof` for a bad proof), and `IssuerUnavailable` only when the
    issuer's keys were never obtained.
    """

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        algorithms: tuple[str, ...] = ISSUER_ALGORITHMS,
        leeway: Duration = timedelta(seconds=60),
        max_cache: Duration = timedelta(hours=1),
        min_refetch_interval: Duration = timedelta(seconds=60),
        jwks_uri: str | None = None,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
        check_status: bool = True,
        status_max_cache: Duration = timedelta(seconds=60),
        status_max_stale: Duration = timedelta(minutes=5),
        status_fail_open: bool = False,
        dpop_algorithms: tuple[str, ...] = tuple(sorted(DPOP_ALGORITHMS)),
        dpop_max_age: Duration = timedelta(seconds=60),
        dpop_replay: ProofReplayStore | None = None,
        dpop_max_proofs: int = 100_000,
    ) -> None:
        self.issuer = check_issuer(issuer)
        if not isinstance(audience, str) or not audience:
            raise ValueError("the audience must be a non-empty string")
        self.audience = audience
        self.algorithms = _allowed(algorithms)
        self.leeway = int(seconds_of(leeway, "leeway"))
        if self.leeway > MAX_LEEWAY.total_seconds():
            raise ValueError("the leeway must be at most 5 minutes")
        # The checks the issuer itself applies (`authserver.jose`), with this service's
        # audience and, its clock not being the issuer's, the leeway on `exp` too.
        self._validator = JwtValidator(
            JwtRules(
                typ=ACCESS_TOKEN_TYPE,
                issuer=self.issuer,
                audience=audience,
                algorithms=self.algorithms,
                leeway=self.leeway,
                expiry_leeway=self.leeway,
            )
        )
        self._keys = KeyCache(
            self.issuer,
            jwks_uri=check_configured_endpoint(jwks_uri, self.issuer, "jwks_uri"),
            max_cache=seconds_of(max_cache, "max_cache"),
            min_refetch_interval=seconds_of(min_refetch_interval, "min_refetch_interval"),
            http=http,
            async_http=async_http,
        )
        self.dpop = PossessionCheck(
            algorithms=dpop_algorithms,
            max_age=seconds_of(dpop_max_age, "dpop_max_age"),
            leeway=self.leeway,
            replay=dpop_replay,
            max_proofs=dpop_max_proofs,
        )
        self._status: StatusLists | None = None
        if check_status:
            self._status = StatusLists(
                self.issuer,
                self._keys,
                self._keys.http,
                max_cache=seconds_of(status_max_cache, "status_max_cache"),
                max_stale=seconds_of(status_max_stale, "status_max_stale"),
                fail_open=status_fail_open,
                algorithms=self.algorithms,
                leeway=self.leeway,
            )

    def verify(self, token: str) -> Claims:
        """The claims of `token` once every RFC 9068 §4 check passes and its status list
        (if it names one) says VALID; else InvalidToken (IssuerUnavailable, see above).
        A DPoP-bound token is refused: it is never a bearer token (RFC 9449 §7.2)."""
        return self.dpop.refuse_bound(self._verify(token))

    async def averify(self, token: str) -> Claims:
        """As `verify`, fetching keys with httpx.AsyncClient; the signature check stays sync."""
        return self.dpop.refuse_bound(await self._averify(token))

    def verify_request(
        self, authorization: HeaderValues, dpop: HeaderValues, method: str, url: str
    ) -> Claims:
        """The claims of the request's access token: a bearer token as `verify`, or a
        DPoP-bound one with the DPoP scheme and a proof of its key for `method` on `url`
        (RFC 9449 §7.1; `url` as the client addressed it, its query ignored).

        `authorization` and `dpop`: the values of those headers (a list, or one string).
        InvalidToken when there is no access token; the errors of a request with the
        DPoP scheme carry the DPoP challenge."""
        return self.dpop.verify_request(self._verify, authorization, dpop, method, url)

    async def averify_request(
        self, authorization: HeaderValues, dpop: HeaderValues, method: str, url: str
    ) -> Claims:
        """As `verify_request`, fetching keys with httpx.AsyncClient."""
        return await self.dpop.averify_request(self._averify, authorization, dpop, method, url)

    def _verify(self, token: str) -> Claims:
        try:
            parsed = self._validator.read(token)
            key = self._keys.verification_key(parsed.kid)
            claims = self._validator.finish(parsed, key, int(time.time()))
        except JwtRejected as error:
            raise InvalidToken(str(error)) from None
        if self._status is not None:
            self._status.check(claims)
        return Claims(claims)

    async def _averify(self, token: str) -> Claims:
        try:
            parsed = self._validator.read(token)
            key = await self._keys.averification_key(parsed.kid)
            claims = self._validator.finish(parsed, key, int(time.time()))
        except JwtRejected as error:
            raise InvalidToken(str(error)) from None
        if self._status is not None:
            await self._status.acheck(claims)
        return Claims(claims)

    def close(self) -> None:
        """Close the HTTP client this verifier made (not one it was given)."""
        self._keys.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _allowed(algorithms: tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(algorithms)
    if not chosen or not chosen <= SUPPORTED_ALGORITHMS:
        raise ValueError(f"algorithms must be among {', '.join(sorted(SUPPORTED_ALGORITHMS))}")
    return chosen


def seconds_of(value: Duration, name: str) -> float:
    """A duration argument in seconds (a timedelta or a number); ValueError if negative."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise ValueError(f"{name} must not be negative")
    return seconds

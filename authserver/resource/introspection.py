"""Asking the issuer whether a token is active (RFC 7662), for endpoints that must see a
revocation at once. Answers are cached for `cache_ttl` at most, and never past the token's
`exp`; set `cache_ttl=0` to ask every time.

    introspector = Introspector(
        "https://auth.example.test", "orders-api", secret, audience="https://orders.example.test"
    )
    claims = introspector.verify(token).require_scopes("orders:write")

A DPoP-bound token (RFC 9449 §6.2: `cnf.jkt` and `token_type` DPoP in the answer) is
accepted only by `verify_request`, with the proof of its key (`resource.dpop`).
"""

import base64
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from datetime import timedelta
from typing import Any, Self
from urllib.parse import quote_plus

import httpx

from authserver.dpop import DPOP_ALGORITHMS, ProofReplayStore
from authserver.jose import MAX_TOKEN_BYTES
from authserver.resource.bearer import check_bearer_syntax
from authserver.resource.claims import Claims
from authserver.resource.discovery import (
    check_configured_endpoint,
    check_issuer,
    endpoint_from,
    metadata_url,
)
from authserver.resource.documents import DEFAULT_TIMEOUT, Document, FetchError, arequest, request
from authserver.resource.dpop import HeaderValues, PossessionCheck
from authserver.resource.errors import InvalidToken, IssuerUnavailable

log = logging.getLogger(__name__)
_DPOP_LEEWAY = 60


class Introspector:
    """Verify tokens by asking the issuer's introspection endpoint (RFC 7662 §2).

    The resource service authenticates as a client with HTTP Basic (RFC 7662 §2.1,
    RFC 6749 §2.3.1); at this server it needs `--introspect` to see other clients' tokens.
    An active answer must name this `issuer` (when it names one), be a bearer token
    (refresh tokens are refused) and, unless `audience` is None, list `audience` in `aud`.
    `endpoint` skips discovery. A failed request raises IssuerUnavailable, never InvalidToken.
    The `dpop_*` options are the `Verifier`'s (a proof's `iat` may be 60 s ahead).
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        *,
        audience: str | None,
        endpoint: str | None = None,
        cache_ttl: timedelta = timedelta(seconds=60),
        max_entries: int = 10_000,
        http: httpx.Client | None = None,
        async_http: httpx.AsyncClient | None = None,
        dpop_algorithms: tuple[str, ...] = tuple(sorted(DPOP_ALGORITHMS)),
        dpop_max_age: timedelta = timedelta(seconds=60),
        dpop_replay: ProofReplayStore | None = None,
        dpop_max_proofs: int = 100_000,
    ) -> None:
        self.issuer = check_issuer(issuer)
        self.audience = audience
        self.dpop = PossessionCheck(
            algorithms=dpop_algorithms,
            max_age=dpop_max_age.total_seconds(),
            leeway=_DPOP_LEEWAY,
            replay=dpop_replay,
            max_proofs=dpop_max_proofs,
        )
        self._endpoint = check_configured_endpoint(endpoint, self.issuer, "endpoint")
        self._authorization = _basic(client_id, client_secret)
        self._cache = _AnswerCache(cache_ttl.total_seconds(), max_entries)
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._async_http = async_http

    def verify(self, token: str) -> Claims:
        """The claims of an active bearer token (a DPoP-bound one is refused, RFC 9449 §7.2)."""
        return self.dpop.refuse_bound(self._verify(token))

    async def averify(self, token: str) -> Claims:
        return self.dpop.refuse_bound(await self._averify(token))

    def verify_request(
        self, authorization: HeaderValues, dpop: HeaderValues, method: str, url: str
    ) -> Claims:
        """As `Verifier.verify_request`: a bearer token, or a DPoP-bound one with its proof."""
        return self.dpop.verify_request(self._verify, authorization, dpop, method, url)

    async def averify_request(
        self, authorization: HeaderValues, dpop: HeaderValues, method: str, url: str
    ) -> Claims:
        return await self.dpop.averify_request(self._averify, authorization, dpop, method, url)

    def _verify(self, token: str) -> Claims:
        key = _cache_key(token)
        if (cached := self._cache.get(key)) is not None:
            return cached.claims()
        try:
            if self._endpoint is None:
                discovered = request(self._http, "GET", metadata_url(self.issuer))
                self._endpoint = endpoint_from(discovered, self.issuer, "introspection_endpoint")
            answer = request(self._http, "POST", self._endpoint, **self._form(token))
        except FetchError as error:
            raise _unavailable(error) from None
        return self._accept(key, answer)

    async def _averify(self, token: str) -> Claims:
        key = _cache_key(token)
        if (cached := self._cache.get(key)) is not None:
            return cached.claims()
        try:
            if self._async_http is not None:
                answer = await self._ask(self._async_http, token)
            else:
                async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as client:
                    answer = await self._ask(client, token)
        except FetchError as error:
            raise _unavailable(error) from None
        return self._accept(key, answer)

    def close(self) -> None:
        """Close the HTTP client this introspector made (not one it was given)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def _ask(self, client: httpx.AsyncClient, token: str) -> Document:
        if self._endpoint is None:
            discovered = await arequest(client, "GET", metadata_url(self.issuer))
            self._endpoint = endpoint_from(discovered, self.issuer, "introspection_endpoint")
        return await arequest(client, "POST", self._endpoint, **self._form(token))

    def _form(self, token: str) -> dict[str, Any]:
        headers = {"Authorization": self._authorization, "Accept": "application/json"}
        return {"data": {"token": token, "token_type_hint": "access_token"}, "headers": headers}

    def _accept(self, key: bytes, document: Document) -> Claims:
        try:
            answer = document.json_object()
        except FetchError as error:
            raise _unavailable(error) from None
        now = time.time()
        try:
            claims = self._check(answer, int(now))
        except InvalidToken as error:
            self._cache.put(key, _Answer(None, error.description), now)
            raise
        self._cache.put(key, _Answer(claims, ""), now, expires_at=claims.get("exp"))
        return claims

    def _check(self, answer: dict[str, Any], now: int) -> Claims:
        # RFC 7662 §2.2: `active` is the one required member; anything else means inactive.
        if answer.get("active") is not True:
            raise InvalidToken("the token is not active")
        if answer.get("iss", self.issuer) != self.issuer:
            raise InvalidToken("the token was not issued by the expected issuer")
        # RFC 7662 §2.2 `token_type` (RFC 6749 §7.1): a refresh token is no access token;
        # RFC 9449 §6.2: a DPoP-bound one is of type DPoP.
        if str(answer.get("token_type", "Bearer")).lower() not in ("bearer", "dpop"):
            raise InvalidToken("the token is not an access token")
        if self.audience is not None and not _names(answer.get("aud"), self.audience):
            raise InvalidToken("the token is not meant for this service (aud)")
        exp = answer.get("exp")
        if exp is not None and (not isinstance(exp, int) or isinstance(exp, bool) or exp <= now):
            raise InvalidToken("the token has expired")
        if not isinstance(answer.get("scope", ""), str):
            raise InvalidToken("the token's scope must be a string")
        return Claims({name: value for name, value in answer.items() if name != "active"})


class _Answer:
    __slots__ = ("_claims", "_description")

    def __init__(self, claims: Claims | None, description: str) -> None:
        self._claims = claims
        self._description = description

    def claims(self) -> Claims:
        if self._claims is None:
            raise InvalidToken(self._description)
        return self._claims


class _AnswerCache:
    """Answers by token hash, each until min(now + ttl, the token's exp); oldest evicted first."""

    def __init__(self, ttl: float, max_entries: int) -> None:
        self._ttl = ttl
        self._max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[float, _Answer]] = OrderedDict()

    def get(self, key: bytes) -> _Answer | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if time.time() >= entry[0]:
                del self._entries[key]
                return None
            return entry[1]

    def put(self, key: bytes, answer: _Answer, now: float, expires_at: object = None) -> None:
        until = now + self._ttl
        if isinstance(expires_at, int):
            until = min(until, expires_at)  # never past the token's own `exp`
        if until <= now or self._max_entries <= 0:
            return
        with self._lock:
            self._entries[key] = (until, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)


def _cache_key(token: object) -> bytes:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken("the token is not a bearer token of at most 8 KiB")
    check_bearer_syntax(token)
    return hashlib.sha256(token.encode("ascii")).digest()


def _names(aud: object, audience: str) -> bool:
    return aud == audience or (isinstance(aud, list) and audience in aud)


def _basic(client_id: str, client_secret: str) -> str:
    # RFC 6749 §2.3.1: each part is form-urlencoded before the Basic encoding.
    raw = f"{quote_plus(client_id)}:{quote_plus(client_secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _unavailable(error: FetchError) -> IssuerUnavailable:
    if error.status == 401:
        # RFC 7662 §2.1: the caller authenticates; a refusal is a configuration mistake.
        log.error("token introspection: the issuer refused this service's client credentials")
        return IssuerUnavailable("the issuer refused this service's client credentials")
    log.warning("token introspection failed: %s", error)
    return IssuerUnavailable("the issuer's introspection endpoint could not be reached")

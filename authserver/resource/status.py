"""Honouring the Token Status List in a resource service (draft-ietf-oauth-status-list-18 §8.3).

A token whose claims carry `status.status_list: {idx, uri}` is accepted only if the bit
at `idx` of the list at `uri` is VALID. The list is fetched from the issuer (only from
`<issuer>/statuslists/...`: a token never makes the verifier fetch elsewhere), checked as
a Status List Token (signature with the issuer's JWKS, `typ: statuslist+jwt`, `iss`,
`sub` equal to the URI, `iat`, `exp`) and held for its `ttl`, never longer than
`max_cache`. Verifying then costs a dictionary lookup and a bit test: no request per
token. When a fresh copy cannot be had, the held one serves while it is younger than
`max_stale` (and not past its `exp`); past that, or with none held, the token is refused
(`IssuerUnavailable`, 503: fail closed), unless `fail_open` was chosen.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from authserver.jose import JwtRejected, JwtRules, JwtValidator
from authserver.jose.claims import STATUS_LIST_TOKEN_TYPE
from authserver.resource.documents import FetchError, request
from authserver.resource.errors import InvalidToken, IssuerUnavailable
from authserver.resource.jwks import KeyCache
from authserver.statuslists import bits

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/statuslist+jwt"
# After a failed fetch, the next attempt waits this long (an outage costs the issuer one
# request per list every few seconds, not one per token).
RETRY_AFTER_FAILURE = 2.0
MAX_LIST_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class HeldList:
    array: bytes
    bits: int
    etag: str | None
    fetched_at: float
    fresh_until: float
    usable_until: float
    expires_at: float  # the Status List Token's `exp` (infinity without one)


class StatusLists:
    def __init__(
        self,
        issuer: str,
        keys: KeyCache,
        http: httpx.Client,
        *,
        max_cache: float,
        max_stale: float,
        fail_open: bool,
        algorithms: frozenset[str],
        leeway: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prefix = f"{issuer}/statuslists/"
        self._keys = keys
        self._http = http
        self._max_cache = max_cache
        self._max_stale = max_stale
        self._fail_open = fail_open
        self._clock = clock
        self._validator = JwtValidator(
            JwtRules(
                typ=STATUS_LIST_TOKEN_TYPE,
                issuer=issuer,
                algorithms=algorithms,
                required=frozenset({"iss", "sub", "iat", "status_list"}),
                leeway=leeway,
                expiry_leeway=leeway,
                max_bytes=MAX_LIST_BYTES,
            )
        )
        self._held: dict[str, HeldList] = {}
        self._next_attempt: dict[str, float] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def check(self, claims: Mapping[str, Any]) -> None:
        """Raise InvalidToken for a revoked token, IssuerUnavailable when its status is unknown."""
        entry = status_entry(claims, self._prefix)
        if entry is None:
            return
        uri, idx = entry
        if self._needs_fetch(uri):
            self._refresh(uri)
        self._judge(uri, idx)

    async def acheck(self, claims: Mapping[str, Any]) -> None:
        """As `check`; a fetch runs in a worker thread, never in the event loop."""
        entry = status_entry(claims, self._prefix)
        if entry is None:
            return
        uri, idx = entry
        if self._needs_fetch(uri):
            await asyncio.to_thread(self._refresh, uri)
        self._judge(uri, idx)

    def _needs_fetch(self, uri: str) -> bool:
        held, now = self._held.get(uri), self._clock()
        return (held is None or now >= held.fresh_until) and now >= self._next_attempt.get(uri, 0)

    def _judge(self, uri: str, idx: int) -> None:
        held = self._held.get(uri)
        if held is None or self._clock() >= held.usable_until:
            if self._fail_open:
                return
            raise IssuerUnavailable("the token's status list could not be fetched")
        try:
            status = bits.status_at(held.array, idx, held.bits)
        except IndexError:
            raise InvalidToken("the token's status index is outside its status list") from None
        if status != bits.VALID:
            raise InvalidToken("the token has been revoked")

    def _refresh(self, uri: str) -> None:
        with self._lock_of(uri):
            if not self._needs_fetch(uri):  # another thread fetched it meanwhile
                return
            try:
                self._held[uri] = self._fetch(uri, self._held.get(uri))
                self._next_attempt.pop(uri, None)
            except (FetchError, JwtRejected, InvalidToken, bits.StatusListError) as error:
                self._next_attempt[uri] = self._clock() + RETRY_AFTER_FAILURE
                log.warning("fetching the status list %s failed: %s", uri, error)

    def _fetch(self, uri: str, held: HeldList | None) -> HeldList:
        headers = {"Accept": MEDIA_TYPE}
        if held is not None and held.etag:
            headers["If-None-Match"] = held.etag
        document = request(self._http, "GET", uri, headers=headers, limit=MAX_LIST_BYTES)
        now = self._clock()
        if document.status == 304 and held is not None:
            # Still current: held again for as long as when it was fetched.
            lifetime = held.fresh_until - held.fetched_at
            usable_until = min(now + self._max_stale, held.expires_at)
            return HeldList(
                held.array,
                held.bits,
                held.etag,
                now,
                now + lifetime,
                usable_until,
                held.expires_at,
            )
        if document.status != 200:
            raise FetchError(f"{uri} answered {document.status}", status=document.status)
        media_type = document.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != MEDIA_TYPE:
            raise FetchError(f"{uri} did not answer {MEDIA_TYPE}")
        token = document.body.decode("ascii", "replace")
        parsed = self._validator.read(token)
        claims = self._validator.finish(parsed, self._keys.verification_key(parsed.kid), int(now))
        return self._hold(uri, claims, document.headers.get("etag"), now)

    def _hold(self, uri: str, claims: dict[str, Any], etag: str | None, now: float) -> HeldList:
        # §8.3 step 3: the Status List Token is the one for this URI.
        if claims["sub"] != uri:
            raise InvalidToken("the status list token's sub is not its URI")
        status_list = claims["status_list"]
        if not isinstance(status_list, dict) or status_list.get("bits") not in (1, 2, 4, 8):
            raise bits.StatusListError("status_list must hold bits 1, 2, 4 or 8 and lst")
        array = bits.decode(status_list.get("lst"))  # type: ignore[arg-type]
        ttl = claims.get("ttl")
        lifetime = self._max_cache
        if type(ttl) in (int, float) and ttl > 0:
            lifetime = min(float(ttl), self._max_cache)
        expires_at = float(claims.get("exp", float("inf")))
        usable_until = min(now + self._max_stale, expires_at)
        return HeldList(
            array, status_list["bits"], etag, now, now + lifetime, usable_until, expires_at
        )

    def _lock_of(self, uri: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(uri, threading.Lock())


def status_entry(claims: Mapping[str, Any], prefix: str) -> tuple[str, int] | None:
    """(uri, idx) of the token's `status.status_list`; None without a `status` claim.

    A malformed entry, or one naming a list that is not the issuer's, is InvalidToken."""
    status = claims.get("status")
    if status is None:
        return None
    entry = status.get("status_list") if isinstance(status, dict) else None
    if not isinstance(entry, dict):
        raise InvalidToken("the token's status claim is malformed")
    uri, idx = entry.get("uri"), entry.get("idx")
    if type(idx) is not int or idx < 0 or not isinstance(uri, str):
        raise InvalidToken("the token's status claim is malformed")
    if not uri.startswith(prefix) or len(uri) > len(prefix) + 64:
        raise InvalidToken("the token's status list is not one of the issuer's")
    return uri, idx

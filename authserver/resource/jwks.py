"""The issuer's signing keys: discovery, then its JWK Set (RFC 7517), cached for every thread.

- Fresh for the JWKS response's `Cache-Control: max-age` (RFC 9111 §5.2.2.1), 5 minutes
  when it names none, never longer than `max_cache`. Revalidated with its `ETag`.
- A stale set is refreshed by the one caller that gets to start the fetch; the others keep
  using it meanwhile. An unknown `kid` starts a fetch at once and waits for it; callers
  arriving during a fetch wait for that one instead of starting another.
- While the set is fresh, fetches start at most once per `min_refetch_interval` (see
  `refetch.py`), so a flood of made-up `kid`s costs the issuer one request per interval.
  Once the set has expired, an unknown `kid` may start a fetch a second after the last:
  the issuer's `max-age` sets the pace, so a key it published one max-age before it signs
  is always known in time, whatever `min_refetch_interval` says. (A stale set whose keys
  still match is refreshed at the `min_refetch_interval` pace.)
- A failed fetch keeps the keys already held (stale-if-error, RFC 5861 §4) and is tried
  again after `min_refetch_interval`. Only with no keys at all is the issuer unavailable.
"""

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key

from authserver.jose import JwtRejected, VerificationKey, public_key_from_jwk
from authserver.resource.discovery import endpoint_from, metadata_url
from authserver.resource.documents import DEFAULT_TIMEOUT, Document, FetchError, arequest, request
from authserver.resource.errors import InvalidToken, IssuerUnavailable
from authserver.resource.refetch import RefetchGate, Ticket

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = 300.0
# RFC 7517 §4, RFC 7518 §6, RFC 8037 §2: the members read of a published key; any other
# (a private one above all) is never looked at.
_PUBLIC_MEMBERS = ("kty", "alg", "use", "key_ops", "n", "e", "crv", "x", "y")
_WAIT_FOR_FETCH = 30.0


@dataclass(frozen=True)
class KeySet:
    keys: Mapping[str, VerificationKey]  # each imported once, when the set was fetched
    etag: str | None
    fresh_until: float


class KeyCache:
    def __init__(
        self,
        issuer: str,
        *,
        jwks_uri: str | None,
        max_cache: float,
        min_refetch_interval: float,
        http: httpx.Client | None,
        async_http: httpx.AsyncClient | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self._configured_jwks_uri = self._jwks_uri = jwks_uri
        self._max_cache = max_cache
        self._clock = clock
        self._gate = RefetchGate(min_refetch_interval, clock)
        self._owns_http = http is None
        self._http = http or httpx.Client(timeout=DEFAULT_TIMEOUT)
        self._async_http = async_http
        self._key_set: KeySet | None = None

    @property
    def http(self) -> httpx.Client:
        """The client this cache fetches with (a status-list fetch uses it too)."""
        return self._http

    def get(self, kid: str) -> Key:
        return self.verification_key(kid).jwk

    async def aget(self, kid: str) -> Key:
        return (await self.averification_key(kid)).jwk

    def verification_key(self, kid: str) -> VerificationKey:
        plan = self._plan(kid)
        if isinstance(plan, VerificationKey):
            return plan
        if plan.owner:
            self._refresh()
        elif plan.in_flight is not None:
            plan.in_flight.wait(_WAIT_FOR_FETCH)
        return self._key(kid)

    async def averification_key(self, kid: str) -> VerificationKey:
        plan = self._plan(kid)
        if isinstance(plan, VerificationKey):
            return plan
        if plan.owner:
            await self._arefresh()
        elif plan.in_flight is not None:
            await plan.in_flight.wait_async(_WAIT_FOR_FETCH)
        return self._key(kid)

    def _plan(self, kid: str) -> "VerificationKey | Ticket":
        """The key to use now, or the fetch to make (owner) or to wait for first."""
        key_set = self._key_set
        expired = key_set is not None and self._clock() >= key_set.fresh_until
        key = key_set.keys.get(kid) if key_set is not None else None
        if key is not None:
            # A known kid: a stale set is refreshed by whoever may start a fetch; the
            # others (and that one, should the fetch fail) keep using it.
            if expired and self._gate.begin_owned():
                return Ticket(owner=True, in_flight=None)
            return key
        return self._gate.begin(expired=expired)

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _key(self, kid: str) -> VerificationKey:
        key_set = self._key_set
        if key_set is None:
            raise IssuerUnavailable("the issuer's keys could not be fetched")
        key = key_set.keys.get(kid)
        if key is None:
            raise InvalidToken("the token's kid is not a published key of the issuer")
        return key

    def _refresh(self) -> None:
        """Fetch (discovering `jwks_uri` if need be) and install; the caller owns the gate."""
        try:
            if self._jwks_uri is None:
                discovered = request(self._http, "GET", metadata_url(self.issuer))
                self._jwks_uri = endpoint_from(discovered, self.issuer, "jwks_uri")
            self._install(request(self._http, "GET", self._jwks_uri, headers=self._validators()))
        except FetchError as error:
            self._failed(error)
        finally:
            self._gate.end()

    async def _arefresh(self) -> None:
        try:
            if self._async_http is not None:
                await self._afetch(self._async_http)
            else:
                async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT) as client:
                    await self._afetch(client)
        except FetchError as error:
            self._failed(error)
        finally:
            self._gate.end()

    async def _afetch(self, client: httpx.AsyncClient) -> None:
        if self._jwks_uri is None:
            discovered = await arequest(client, "GET", metadata_url(self.issuer))
            self._jwks_uri = endpoint_from(discovered, self.issuer, "jwks_uri")
        self._install(await arequest(client, "GET", self._jwks_uri, headers=self._validators()))

    def _validators(self) -> dict[str, str]:
        # RFC 9110 §13.1.2: revalidate the set we hold; a 304 keeps it.
        key_set = self._key_set
        return {"If-None-Match": key_set.etag} if key_set and key_set.etag else {}

    def _install(self, document: Document) -> None:
        lifetime = min(max_age(document.headers.get("cache-control")), self._max_cache)
        fresh_until = self._clock() + lifetime
        if document.status == 304 and self._key_set is not None:
            self._key_set = replace(self._key_set, fresh_until=fresh_until)
            return
        keys = verification_keys(document.json_object())
        self._key_set = KeySet(keys, document.headers.get("etag"), fresh_until)

    def _failed(self, error: FetchError) -> None:
        held = len(self._key_set.keys) if self._key_set else 0
        log.warning("fetching the issuer's JWKS failed, keeping %d keys: %s", held, error)
        if self._key_set is not None:
            # Keep using the held keys, and ask again only after the full interval.
            retry_at = self._clock() + self._gate.min_interval
            self._key_set = replace(self._key_set, fresh_until=retry_at)
        # Discover again next time, in case the issuer moved its JWKS.
        self._jwks_uri = self._configured_jwks_uri


def max_age(cache_control: str | None) -> float:
    """RFC 9111 §5.2.2.1 `max-age` in seconds; 0 for `no-cache`/`no-store`; else the default."""
    directives: dict[str, str] = {}
    for part in (cache_control or "").split(","):
        name, _, value = part.partition("=")
        directives[name.strip().lower()] = value.strip().strip('"')
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    value = directives.get("max-age", "")
    return float(value) if value.isascii() and value.isdigit() else DEFAULT_MAX_AGE


def parse_jwks(document: dict[str, Any]) -> dict[str, Key]:
    """The usable verification keys of a JWK Set by `kid`, as joserfc keys (RSAKey, ECKey,
    OKPKey); a `kid` given twice is dropped."""
    return {kid: key.jwk for kid, key in verification_keys(document).items()}


def verification_keys(document: dict[str, Any]) -> dict[str, VerificationKey]:
    """As `parse_jwks`, each key imported once and pinned to its published `alg`."""
    items = document.get("keys")
    if not isinstance(items, list):
        raise FetchError("the JWKS has no keys array")
    keys: dict[str, VerificationKey] = {}
    seen: set[str] = set()
    for item in items:
        found = _verification_key(item)
        if found is None:
            continue
        kid, key = found
        if kid in seen:
            keys.pop(kid, None)  # ambiguous: RFC 7517 §4.5 wants distinct kids
            continue
        seen.add(kid)
        keys[kid] = key
    return keys


def _verification_key(item: object) -> tuple[str, VerificationKey] | None:
    # RFC 7517 §4: a signing key (RSA of 2048 bits or more, EC P-256/384/521, Ed25519)
    # named by `kid`, read by `authserver.jose` from its public members only.
    if not isinstance(item, dict):
        return None
    kid = item.get("kid")
    if not isinstance(kid, str) or not kid:
        return None
    public = {name: item[name] for name in _PUBLIC_MEMBERS if name in item}
    try:
        checked = public_key_from_jwk(public)
        members = {k: v for k, v in public.items() if k not in ("use", "key_ops")}
        jwk = JWKRegistry.import_key({**members, "kid": kid})
    except (JwtRejected, JoseError, ValueError, TypeError):
        return None
    return kid, VerificationKey(jwk, checked.public_key, checked.alg)

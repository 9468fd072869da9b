"""A client's registered public keys (RFC 7591 §2 `jwks` and `jwks_uri`, OpenID Connect
Core §9 and §10.1.1): checked when registered, and a `jwks_uri` fetched and cached.

A `jwks_uri` is fetched through the one outbound transport (`upstream.outbound`: no
private address unless AUTHSERVER_OUTBOUND_ALLOW_PRIVATE, no redirect, 5 s, 256 KiB) and
its keys serve for at most `CACHE_SECONDS`. An assertion whose `kid` the set lacks (the
client rotated its keys, OIDC Core §10.1.1) fetches it again at once, then at most once
per `MIN_REFETCH_SECONDS` for that client, so made-up `kid`s cost the client's server one
request a minute. A failed fetch is remembered for `FAILURE_SECONDS`: meanwhile the
client's assertions are refused without another try.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from authserver.clients.models import Client
from authserver.jose import JwtRejected, VerificationKey, public_key_from_jwk
from authserver.upstream.outbound import client_options, get_json, http

log = logging.getLogger(__name__)

MAX_KEYS = 10
MAX_FETCHED_KEYS = 20
CACHE_SECONDS = 300.0
MIN_REFETCH_SECONDS = 60.0
FAILURE_SECONDS = 10.0
MAX_CACHED_CLIENTS = 1000


def jwks_problem(value: object) -> str | None:
    """Why `value` cannot be registered as a client's `jwks`, or None: a JWK Set (RFC 7517
    §5) of 1 to `MAX_KEYS` public signature keys that all import (RSA of 2048 bits or
    more, EC P-256/384/521, Ed25519), never a private or symmetric one, `kid`s distinct."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        return "must be a JWK Set: an object with an array of keys"
    keys = value["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        return f"must hold 1 to {MAX_KEYS} keys"
    for index, key in enumerate(keys):
        try:
            public_key_from_jwk(key)
        except JwtRejected as error:
            return f"key {index}: {error}"
    kids = [key["kid"] for key in keys if "kid" in key]
    if len(set(map(str, kids))) != len(kids):
        # RFC 7517 §4.5: keys are told apart by `kid`.
        return "keys must have distinct kid values"
    return None


def usable_keys(jwks: object, limit: int = MAX_KEYS) -> tuple[VerificationKey, ...]:
    """The signature keys of a JWK Set that import; a set may hold others (`use: enc`)."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or len(keys) > limit:
        raise JwtRejected(f"the client's keys are not a JWK Set of at most {limit} keys")
    usable = []
    for jwk in keys:
        try:
            usable.append(public_key_from_jwk(jwk))
        except JwtRejected:
            continue
    return tuple(usable)


@dataclass(frozen=True)
class _Held:
    uri: str
    keys: tuple[VerificationKey, ...]
    fetched_at: float
    failure: str | None = None
    refetched_at: float | None = None


class ClientKeySets:
    """The keys each client registered, its `jwks_uri` fetched when needed. Two requests
    that find a set stale at once may both fetch it; the last answer stays."""

    def __init__(self, allow_private: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._allow_private = allow_private
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()

    def keys_of(self, client: Client) -> Sequence[VerificationKey]:
        """Its registered keys now; JwtRejected when its `jwks_uri` cannot be read."""
        if client.jwks is not None:
            return usable_keys(client.jwks)
        if client.jwks_uri is None:
            return ()
        held = self._held.get(client.client_id)
        if held is None or held.uri != client.jwks_uri or self._stale(held):
            held = self._fetch(client.client_id, client.jwks_uri, held)
        return self._keys(held)

    def refetch(self, client: Client) -> Sequence[VerificationKey] | None:
        """Its `jwks_uri` fetched again after an assertion named a `kid` it lacks; None for
        keys registered inline, or when it was refetched less than a minute ago."""
        if client.jwks is not None or client.jwks_uri is None:
            return None
        held = self._held.get(client.client_id)
        now = self._clock()
        last = held.refetched_at if held is not None else None
        if last is not None and now - last < MIN_REFETCH_SECONDS:
            return None
        fetched = self._fetch(client.client_id, client.jwks_uri, held, refetched_at=now)
        return self._keys(fetched)

    def _stale(self, held: _Held) -> bool:
        age = self._clock() - held.fetched_at
        return age >= (FAILURE_SECONDS if held.failure is not None else CACHE_SECONDS)

    def _keys(self, held: _Held) -> Sequence[VerificationKey]:
        if held.failure is not None:
            raise JwtRejected(f"the client's jwks_uri could not be fetched: {held.failure}")
        return held.keys

    def _fetch(
        self, client_id: str, uri: str, before: _Held | None, refetched_at: float | None = None
    ) -> _Held:
        now = self._clock()
        if refetched_at is None and before is not None and before.uri == uri:
            refetched_at = before.refetched_at
        try:
            held = _Held(uri, fetch_keys(uri, self._allow_private), now)
        except Exception as error:  # noqa: BLE001 - any failure: the keys are unavailable
            log.warning("jwks_uri of client %s could not be fetched: %s", client_id, error)
            held = _Held(uri, (), now, failure=str(error))
        held = replace(held, refetched_at=refetched_at)
        with self._lock:
            if client_id not in self._held and len(self._held) >= MAX_CACHED_CLIENTS:
                self._held.pop(next(iter(self._held)))
            self._held[client_id] = held
        return held


def fetch_keys(uri: str, allow_private: bool) -> tuple[VerificationKey, ...]:
    """The signature keys of the JWK Set at `uri` (at least one)."""
    with http.Client(**client_options(allow_private)) as client:
        document: Any = get_json(client, uri)
    keys = usable_keys(document, MAX_FETCHED_KEYS)
    if not keys:
        raise JwtRejected("the JWK Set holds no usable signature key")
    return keys

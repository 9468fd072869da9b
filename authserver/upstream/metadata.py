"""An upstream provider's discovery document (OpenID Connect Discovery 1.0 §4) and
signing keys (RFC 7517), fetched together and cached per provider for a few minutes.

The document must name exactly the issuer configured (§4.3), its endpoints use https
(http only beside an http issuer, in development), and only its RSA signing keys of at
least 2048 bits are kept (`resource.jwks.parse_jwks`): every OpenID provider supports
RS256, the default `alg` of an id_token (Discovery 1.0 §3).
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from joserfc.jwk import RSAKey

from authserver.resource.discovery import check_endpoint, metadata_url
from authserver.resource.documents import FetchError
from authserver.resource.jwks import parse_jwks
from authserver.upstream.errors import UpstreamError
from authserver.upstream.outbound import client_options, get_json, http

CACHE_SECONDS = 300.0
# An id_token naming an unknown `kid` refetches the keys, at most this often per provider.
MIN_REFETCH_SECONDS = 10.0
_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    keys: Mapping[str, RSAKey]
    token_endpoint_auth_methods: tuple[str, ...]
    # OIDC Core §5.5: the provider takes the `claims` parameter, so the id_token can
    # be asked to carry the profile and e-mail claims (else they come only if it adds them).
    claims_parameter_supported: bool
    fetched_at: float


def fetch_metadata(issuer: str, allow_private: bool, now: float) -> ProviderMetadata:
    with http.Client(**client_options(allow_private)) as client:
        document = get_json(client, metadata_url(issuer))
        # OIDC Discovery 1.0 §4.3: the issuer in the document is exactly the one configured,
        # else its keys could be another issuer's.
        if document.get("issuer") != issuer:
            raise UpstreamError(f"{metadata_url(issuer)} describes another issuer")
        try:
            endpoints = {
                name: check_endpoint(document.get(name), issuer, name) for name in _ENDPOINTS
            }
            published = parse_jwks(get_json(client, endpoints["jwks_uri"]))
            keys = {kid: key for kid, key in published.items() if isinstance(key, RSAKey)}
        except FetchError as error:
            raise UpstreamError(f"{issuer}: {error}") from None
    methods = document.get("token_endpoint_auth_methods_supported", ["client_secret_basic"])
    return ProviderMetadata(
        issuer=issuer,
        authorization_endpoint=endpoints["authorization_endpoint"],
        token_endpoint=endpoints["token_endpoint"],
        keys=keys,
        token_endpoint_auth_methods=tuple(m for m in methods if isinstance(m, str)),
        claims_parameter_supported=document.get("claims_parameter_supported") is True,
        fetched_at=now,
    )


class MetadataCache:
    """Each provider's metadata, fresh for CACHE_SECONDS. Two requests that find it stale
    at once may both fetch it; the last one's answer stays."""

    def __init__(self, allow_private: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._allow_private = allow_private
        self._clock = clock
        self._held: dict[str, ProviderMetadata] = {}
        self._lock = threading.Lock()

    def get(self, issuer: str) -> ProviderMetadata:
        held = self._held.get(issuer)
        if held is not None and self._clock() - held.fetched_at < CACHE_SECONDS:
            return held
        return self._fetch(issuer)

    def refetch_keys(self, issuer: str) -> ProviderMetadata | None:
        """Fresh metadata after an id_token named an unknown `kid` (the provider rotated
        its keys), or None if it was fetched too recently to ask again."""
        held = self._held.get(issuer)
        if held is not None and self._clock() - held.fetched_at < MIN_REFETCH_SECONDS:
            return None
        return self._fetch(issuer)

    def _fetch(self, issuer: str) -> ProviderMetadata:
        fetched = fetch_metadata(issuer, self._allow_private, self._clock())
        with self._lock:
            self._held[issuer] = fetched
        return fetched

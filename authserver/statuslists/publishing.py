"""Serving a list as a Status List Token (draft-ietf-oauth-status-list-18 §5.1, §8).

The token is a JWT with `typ: statuslist+jwt`, signed with the issuer's current key,
claims `iss`, `sub` (the list's URI), `iat`, `exp`, `ttl` and `status_list: {bits, lst}`.
Each process rebuilds a list's token at most once a second (`REBUILD_EVERY`); while the
bits and the signing key have not changed it keeps the token it signed (same `ETag`) for
half the `ttl` (a rotated or revoked key gets a list signed again at once), so
a revocation reaches the published list within a second and a verifier that caches it
for `ttl` sees it within `ttl` + 1 s. `exp` is `iat` + the longer of `ttl` and the
access-token lifetime: a verifier may keep using a list that long when it cannot fetch
a newer one (its own bound, `Verifier(status_max_stale=...)`, is usually shorter).
"""

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from authserver.clock import utcnow
from authserver.db import Database
from authserver.etags import entity_tag_matches
from authserver.jose.claims import STATUS_LIST_TOKEN_TYPE
from authserver.keys.keyring import KeyRing
from authserver.statuslists import bits
from authserver.statuslists.allocation import list_uri
from authserver.statuslists.repository import find_list, invalid_indexes
from authserver.tokens.signing import TokenSigner

MEDIA_TYPE = "application/statuslist+jwt"
REBUILD_EVERY = 1.0


@dataclass(frozen=True)
class PublishedList:
    token: bytes
    etag: str
    lst: str
    kid: str  # the key that signed it: a revoked or rotated key means signing again
    issued_at: float
    built_at: float

    def matches(self, if_none_match: str | None) -> bool:
        return entity_tag_matches(self.etag, if_none_match)


class StatusListSigner(TokenSigner):
    @property
    def kid(self) -> str:
        return self._keyring.signing_key.kid  # type: ignore[return-value]

    def sign(self, list_id: str, lst: str, ttl: int, now: int) -> str:
        uri = list_uri(self.issuer, list_id)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "sub": uri,
            "iat": now,
            "exp": now + max(ttl, self._ttl),
            "ttl": ttl,
            "status_list": {
                "bits": bits.BITS,
                "lst": lst,
                "aggregation_uri": f"{self.issuer}/statuslists",
            },
        }
        return self._sign(STATUS_LIST_TOKEN_TYPE, claims)


class StatusListPublisher:
    def __init__(
        self,
        database: Database,
        keyring: KeyRing,
        issuer: str,
        ttl: timedelta,
        access_token_ttl: timedelta,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._database = database
        self._signer = StatusListSigner(issuer, keyring, access_token_ttl)
        self.ttl = int(ttl.total_seconds())
        self._clock = clock
        self._published: dict[str, PublishedList] = {}

    def publish(self, list_id: str) -> PublishedList | None:
        """The list's current token; None if there is no such live list."""
        now = self._clock()
        held = self._published.get(list_id)
        if held is not None and held.kid != self._signer.kid:
            held = None  # `keys rotate` or `keys revoke`: never serve a retired key's list
        if held is not None and now - held.built_at < min(REBUILD_EVERY, self.ttl):
            return held
        with self._database.reading() as db:
            status_list = find_list(db, list_id, utcnow())
            if status_list is None:
                self._published.pop(list_id, None)
                return None
            lst = bits.encode(status_list.size, invalid_indexes(db, list_id))
        if held is not None and held.lst == lst and now - held.issued_at < self.ttl / 2:
            published = PublishedList(held.token, held.etag, lst, held.kid, held.issued_at, now)
        else:
            kid = self._signer.kid
            token = self._signer.sign(list_id, lst, self.ttl, int(now)).encode("ascii")
            etag = f'"{hashlib.sha256(token).hexdigest()[:32]}"'
            published = PublishedList(token, etag, lst, kid, int(now), now)
        self._published[list_id] = published  # one assignment: threads see old or new
        return published

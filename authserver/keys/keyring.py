"""A process's view of the key store: the parsed signing key and the JWKS, kept in memory.

Each process re-reads the manifest when it changes, checking at most once per
AUTHSERVER_KEYS_RELOAD_INTERVAL; so a rotation reaches every process sharing the store
within that interval, without a restart. A process that has not yet seen a rotation
keeps signing with the key just retired, which stays published (see `key_retention`).
If a reload fails (say, a key the passphrase cannot open), the process keeps its last
good view, logs the cause, and reports not ready at /readyz until a reload succeeds.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from joserfc.jwk import RSAKey

from authserver.clock import utcnow
from authserver.errors import KeyStoreError
from authserver.keys.jwks import JwksDocument, build_jwks
from authserver.keys.records import KeyRecord, KeyState
from authserver.keys.rotation import published_records
from authserver.keys.store import FileKeyStore
from authserver.settings import Settings

log = logging.getLogger(__name__)

# Clock skew a verifier may allow on `exp` (RFC 8725 §3.10 leaves it to us; we say 60 s).
_VERIFIER_LEEWAY = timedelta(seconds=60)


def key_retention(settings: Settings) -> timedelta:
    """How long a retired key stays published: the longest token it signed may still live."""
    longest = max(settings.access_token_ttl, settings.id_token_ttl)
    return settings.keys_reload_interval + longest + _VERIFIER_LEEWAY


@dataclass(frozen=True)
class _Snapshot:
    signature: tuple[int, int, int] | None
    records: tuple[KeyRecord, ...]
    current_kid: str
    signing_key: RSAKey
    published_kids: tuple[str, ...]
    verification_keys: dict[str, RSAKey]
    jwks: JwksDocument


class KeyRing:
    def __init__(self, store: FileKeyStore, reload_interval: timedelta) -> None:
        self._store = store
        self._reload_interval = reload_interval.total_seconds()
        self.reload_error: str | None = None
        self._parsed: dict[str, RSAKey] = {}
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._snapshot = self._load(self._store.manifest_signature())

    @property
    def current_kid(self) -> str:
        return self._fresh().current_kid

    @property
    def signing_key(self) -> RSAKey:
        """The current key, parsed once per process (parsing validates it: ~50 ms)."""
        return self._fresh().signing_key

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        """Every key in the store as last loaded, with its state and dates."""
        return self._fresh().records

    @property
    def jwks(self) -> JwksDocument:
        return self._fresh().jwks

    def verification_key(self, kid: str) -> RSAKey | None:
        """The public key of a published `kid`; None once the key is removed (or never was)."""
        return self._fresh().verification_keys.get(kid)

    def _fresh(self) -> _Snapshot:
        snapshot = self._snapshot
        if time.monotonic() - self._checked_at >= self._reload_interval:
            with self._lock:
                self._checked_at = time.monotonic()
                signature = self._store.manifest_signature()
                if signature != self._snapshot.signature or self._retired_key_expired():
                    self._reload(signature)
                snapshot = self._snapshot
        return snapshot

    def _reload(self, signature: tuple[int, int, int] | None) -> None:
        try:
            self._snapshot = self._load(signature)
            self.reload_error = None
        except KeyStoreError as error:
            self.reload_error = str(error)
            log.error("key store reload failed, keeping the last good keys: %s", error)

    def _retired_key_expired(self) -> bool:
        published = published_records(list(self._snapshot.records), utcnow())
        return tuple(r.kid for r in published) != self._snapshot.published_kids

    def _load(self, signature: tuple[int, int, int] | None) -> _Snapshot:
        stored = self._store.read_records()
        records = published_records(stored, utcnow())
        current = next((r for r in records if r.state is KeyState.CURRENT), None)
        if current is None:
            raise KeyStoreError(f"no current signing key in {self._store.directory}")
        key = self._parsed_key(current)
        self._parsed = {current.kid: key}
        return _Snapshot(
            signature=signature,
            records=tuple(stored),
            current_kid=current.kid,
            signing_key=key,
            published_kids=tuple(r.kid for r in records),
            verification_keys={r.kid: RSAKey.import_key(r.public_jwk) for r in records},
            jwks=build_jwks(records),
        )

    def _parsed_key(self, record: KeyRecord) -> RSAKey:
        return self._parsed.get(record.kid) or self._store.load_private_key(record.kid)

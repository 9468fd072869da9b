"""A process's view of the key store: the parsed signing key and the JWKS, kept in memory.

Requests only read the last loaded snapshot; they never wait on the store. While the
server runs, a watcher thread (`start`) reloads it when the store changes: at once on
a PostgreSQL notification (database store), else at the next poll, every
AUTHSERVER_KEYS_RELOAD_INTERVAL. A rotation or an emergency `keys revoke` on any host
therefore reaches every process within about a second (notified) or that interval.
Without the watcher (a ring used outside a running server, or an interval of 0), each
use checks the store at most once per interval instead.

The private parts of `current` and `next` (of every algorithm in use) are opened at load,
so promoting `next` never waits on the passphrase's KDF. `signing_key` and `signer` sign
access tokens and our other JWTs (AUTHSERVER_SIGNING_ALG, see `chains.signing_record`);
`signer_for(alg)` signs the id_tokens of a client that asked for another algorithm. A
process that has not yet seen a rotation keeps signing with the key just retired, which
stays published (see `key_retention`). If a reload fails (say, a key the passphrase
cannot open), the process keeps its last good view, logs the cause, and reports not
ready at /readyz until a reload succeeds.
"""

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from authserver.clock import utcnow
from authserver.errors import KeyStoreError
from authserver.jose import JwtRejected, VerificationKey, public_key_from_jwk
from authserver.keys.algorithms import DEFAULT_ALGORITHM, PrivateJwk, Signer, labelled
from authserver.keys.chains import signing_record
from authserver.keys.jwks import JwksDocument, build_jwks
from authserver.keys.records import KeyRecord, KeyState
from authserver.keys.rotation import published_records
from authserver.keys.store import KeyStore
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
    marker: object
    records: tuple[KeyRecord, ...]
    current_kid: str
    signing_key: PrivateJwk
    signer: Signer
    signers: dict[str, Signer]  # alg -> its current key's
    published_kids: tuple[str, ...]
    verification_keys: dict[str, VerificationKey]
    jwks: JwksDocument


class KeyRing:
    def __init__(
        self, store: KeyStore, reload_interval: timedelta, signing_alg: str = DEFAULT_ALGORITHM
    ) -> None:
        self._store = store
        self._reload_interval = reload_interval.total_seconds()
        self._signing_alg = signing_alg
        self.reload_error: str | None = None
        self._parsed: dict[str, PrivateJwk] = {}
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None
        self._snapshot = self._load(self._store.change_marker())

    @property
    def current_kid(self) -> str:
        return self._fresh().current_kid

    @property
    def signing_key(self) -> PrivateJwk:
        return self._fresh().signing_key

    @property
    def signer(self) -> Signer:
        """What signs access tokens and our other JWTs: AUTHSERVER_SIGNING_ALG's key."""
        return self._fresh().signer

    def signer_for(self, alg: str) -> Signer | None:
        """The current key of `alg`; None when the store holds none."""
        return self._fresh().signers.get(alg)

    @property
    def records(self) -> tuple[KeyRecord, ...]:
        """Every key in the store as last loaded, with its state and dates."""
        return self._fresh().records

    @property
    def jwks(self) -> JwksDocument:
        return self._fresh().jwks

    def verification_key(self, kid: str) -> VerificationKey | None:
        """The public key of a published `kid`; None once the key is removed (or never was)."""
        return self._fresh().verification_keys.get(kid)

    def refresh(self) -> bool:
        """Reload if the store changed or a retired key's time is up; True if it did."""
        with self._lock:
            self._checked_at = time.monotonic()
            marker = self._store.change_marker()
            if marker == self._snapshot.marker and not self._retired_key_expired():
                return False
            try:
                self._snapshot = self._load(marker)
                self.reload_error = None
            except KeyStoreError as error:
                self.reload_error = str(error)
                log.error("key store reload failed, keeping the last good keys: %s", error)
                return False
            log.info("signing keys reloaded: %s signs", self._snapshot.current_kid)
            return True

    def start(self) -> None:
        """Watch the store from a thread; requests then never touch the store. With a
        reload interval of 0 there is no thread: every use checks the store."""
        if self._watcher is None and self._reload_interval > 0:
            self._stop.clear()
            self._watcher = threading.Thread(target=self._watch, name="keyring", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None
        self._store.close()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self._store.wait_for_change(self._reload_interval, self._stop)
                if not self._stop.is_set():
                    self.refresh()
            except Exception:
                log.exception("checking the key store failed; retrying")
                self._stop.wait(1.0)

    def _fresh(self) -> _Snapshot:
        stale = time.monotonic() - self._checked_at >= self._reload_interval
        if stale and self._watcher is None:
            self.refresh()
        return self._snapshot

    def _retired_key_expired(self) -> bool:
        published = published_records(list(self._snapshot.records), utcnow())
        return tuple(r.kid for r in published) != self._snapshot.published_kids

    def _load(self, marker: object) -> _Snapshot:
        stored = self._store.read_records()
        records = published_records(stored, utcnow())
        current = signing_record(records, self._signing_alg)
        if current is None:
            raise KeyStoreError(f"no current signing key in {self._store.description}")
        opened = [r for r in records if r.state in (KeyState.CURRENT, KeyState.NEXT)]
        parsed = {r.kid: self._parsed_key(r) for r in opened}
        self._parsed = parsed
        signers = {r.alg: Signer.of(parsed[r.kid]) for r in records if r.state is KeyState.CURRENT}
        return _Snapshot(
            marker=marker,
            records=tuple(stored),
            current_kid=current.kid,
            signing_key=parsed[current.kid],
            signer=Signer.of(parsed[current.kid]),
            signers=signers,
            published_kids=tuple(r.kid for r in records),
            verification_keys={r.kid: _verification_key(r) for r in records},
            jwks=build_jwks(records),
        )

    def _parsed_key(self, record: KeyRecord) -> PrivateJwk:
        key = self._parsed.get(record.kid) or self._store.load_private_key(record.kid)
        if key.alg == record.alg:
            return key
        try:
            return labelled(key.private_key, record.alg)
        except ValueError:
            raise KeyStoreError(f"the key {record.kid} is not a key for {record.alg}") from None


def _verification_key(record: KeyRecord) -> VerificationKey:
    # Pinned to the algorithm the JWKS publishes for it (RFC 8725 §3.1).
    try:
        return public_key_from_jwk(record.published_jwk())
    except JwtRejected as error:
        raise KeyStoreError(f"the public key {record.kid} is unusable: {error}") from None

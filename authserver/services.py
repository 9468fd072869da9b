"""What one server process holds: settings, database, key ring, client cache, OAuth server."""

from dataclasses import dataclass

from authserver.async_db import AsyncDatabase
from authserver.audit import record_event
from authserver.backchannel.delivery import OutboxDelivery
from authserver.clients.cache import ClientCache
from authserver.clients.models import Client
from authserver.clients.repository import ClientRepository
from authserver.clock import utcnow
from authserver.db import Database
from authserver.errors import KeyStoreError
from authserver.keys.configured import open_key_store
from authserver.keys.keyring import KeyRing
from authserver.keys.rotation import align_signing_keys, ensure_signing_keys
from authserver.keys.schedule import RotationSchedule
from authserver.keys.store import FileKeyStore, KeyStore
from authserver.login.signin import SignIn
from authserver.loop_reads import LoopReads, SqliteLoopReads, loop_reads_for
from authserver.oauth import AuthorizationServer
from authserver.replay import ReplayGuard
from authserver.sealing import Sealer
from authserver.settings import Settings
from authserver.statuslists.allocation import StatusAllocator
from authserver.statuslists.publishing import StatusListPublisher
from authserver.statuslists.repository import ListShape
from authserver.throttling.clients import ClientRateLimit
from authserver.throttling.logins import DatabaseLoginThrottle, LoginThrottle, RedisLoginThrottle
from authserver.throttling.shared import SharedCounters
from authserver.tokens.access import AccessTokenIssuer
from authserver.tokens.id_token import IdTokenIssuer


@dataclass
class Services:
    settings: Settings
    database: Database
    keyring: KeyRing
    oauth: AuthorizationServer
    sign_in: SignIn
    rotation: RotationSchedule
    counters: SharedCounters
    status_lists: StatusListPublisher
    outbox: OutboxDelivery
    clients: ClientCache
    # POST /register, per client address (AUTHSERVER_REGISTRATION_RATE_LIMIT).
    registration_rate_limit: ClientRateLimit
    # Password guesses and second-factor guesses alike (SECURITY-CHECKLIST).
    login_throttle: LoginThrottle
    # TOTP secrets and upstream client secrets at rest (authserver.sealing).
    sealer: Sealer
    # Single-use `jti`s: client assertions (RFC 7523) and DPoP proofs (RFC 9449).
    replay: ReplayGuard
    # PostgreSQL: the hot paths' statements on the event loop (None on SQLite).
    async_db: AsyncDatabase | None
    # Introspection's and /userinfo's one-row reads on the event loop: `async_db` on
    # PostgreSQL, `SqliteLoopReads` on a SQLite file.
    loop_reads: LoopReads | None = None

    def ready_async_db(self) -> AsyncDatabase | None:
        """`async_db` when it is open on the running event loop (the app's lifespan)."""
        database = self.async_db
        return database if database is not None and database.ready else None

    def ready_loop_reads(self) -> LoopReads | None:
        """`loop_reads` when they are open on the running event loop."""
        reads = self.loop_reads
        return reads if reads is not None and reads.ready else None

    @property
    def sqlite_loop_reads(self) -> SqliteLoopReads | None:
        """The loop reads the lifespan opens and closes besides `async_db`."""
        reads = self.loop_reads
        return reads if isinstance(reads, SqliteLoopReads) else None


def prepare_key_store(settings: Settings, database: Database, store: KeyStore) -> None:
    """Re-seal keys of the first file format, give an empty store its first keys (once,
    however many processes start together), and give a store made for other algorithms
    the keys of AUTHSERVER_SIGNING_ALG and AUTHSERVER_EXTRA_SIGNING_ALGS (keys/rotation.py)."""
    if isinstance(store, FileKeyStore):
        store.upgrade_legacy_keys()
    elif not store.read_records():
        _refuse_to_shadow_file_keys(settings)
    bits, algorithms = settings.keys_rsa_bits, settings.signing_algorithms
    if ensure_signing_keys(store, bits, utcnow(), algorithms=algorithms):
        with database.transaction() as db:
            for record in store.read_records():
                record_event(
                    db, "key.created", kid=record.kid, state=record.state.value, alg=record.alg
                )
    elif alignment := align_signing_keys(store, bits, utcnow(), algorithms=algorithms):
        with database.transaction() as db:
            for record in alignment.created:
                record_event(
                    db, "key.created", kid=record.kid, state=record.state.value, alg=record.alg
                )
            for kid in alignment.removed_kids:
                record_event(db, "key.removed", kid=kid, reason="algorithm no longer in use")


def _refuse_to_shadow_file_keys(settings: Settings) -> None:
    """A fleet switched to the database store must not sign with new keys while the
    keys its tokens were signed with sit unpublished in the old directory."""
    if FileKeyStore(settings.keys_dir, None).read_records():
        raise KeyStoreError(
            f"the database key store is empty but {settings.keys_dir} holds signing keys: "
            f"run 'authserver keys import --from-dir {settings.keys_dir}' first "
            "(or move that directory away to start with new keys)"
        )


def build_services(settings: Settings, database: Database) -> Services:
    """Create the first signing keys if the store is empty, then load them once."""
    store = open_key_store(settings, database)
    prepare_key_store(settings, database, store)
    keyring = KeyRing(store, settings.keys_reload_interval, settings.signing_alg)
    clients = ClientCache(
        lambda client_id: _load_client(database, client_id), settings.client_cache_ttl
    )
    access_tokens = AccessTokenIssuer(settings.issuer, keyring, settings.access_token_ttl)
    id_tokens = IdTokenIssuer(settings.issuer, keyring, settings.id_token_ttl)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    counters = SharedCounters(redis_url, settings.redis_key_prefix)
    rate_limit = ClientRateLimit(counters, settings.client_rate_limits)
    statuses = StatusAllocator(database, status_list_shape(settings))
    replay = ReplayGuard(database, counters)
    oauth = AuthorizationServer(
        settings, database, clients, access_tokens, id_tokens, keyring, rate_limit, statuses, replay
    )
    login_throttle = _login_throttle(database, counters)
    sign_in = SignIn(
        database,
        settings.password_hashing(),
        settings.session_ttl,
        settings.login_max_concurrent_hashes,
        login_throttle,
        settings.mfa,
    )
    rotation = RotationSchedule(settings, store, database)
    status_lists = StatusListPublisher(
        database, keyring, settings.issuer, settings.status_list_ttl, settings.access_token_ttl
    )
    outbox = OutboxDelivery(settings, database, keyring)
    async_db = AsyncDatabase.for_database(database)
    return Services(
        settings,
        database,
        keyring,
        oauth,
        sign_in,
        rotation,
        counters,
        status_lists,
        outbox,
        clients,
        ClientRateLimit(counters, settings.registration_rate_limits),
        login_throttle,
        Sealer(settings.keys_passphrase.get_secret_value() if settings.keys_passphrase else None),
        replay,
        async_db,
        loop_reads_for(database, async_db),
    )


def status_list_shape(settings: Settings) -> ListShape:
    """New lists: AUTHSERVER_STATUS_LIST_SIZE entries, open for blocks during
    AUTHSERVER_STATUS_LIST_ROLLOVER, then kept while a token naming them may live."""
    return ListShape(
        size=settings.status_list_size,
        open_for=settings.status_list_rollover,
        outlived_by=settings.access_token_ttl + settings.jwt_leeway,
    )


def _login_throttle(database: Database, counters: SharedCounters) -> LoginThrottle:
    in_database = DatabaseLoginThrottle(database)
    return RedisLoginThrottle(counters, in_database) if counters.configured else in_database


def _load_client(database: Database, client_id: str) -> Client | None:
    # A plain read: on SQLite a transaction would wait for the write lock.
    with database.reading() as session:
        return ClientRepository(session).get(client_id)

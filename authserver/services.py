"""What one server process holds: settings, database, key ring, client cache, OAuth server."""

from dataclasses import dataclass

from authserver.clients.cache import ClientCache
from authserver.clients.models import Client
from authserver.clients.repository import ClientRepository
from authserver.clock import utcnow
from authserver.db import Database
from authserver.keys.keyring import KeyRing
from authserver.keys.rotation import ensure_signing_keys
from authserver.keys.schedule import RotationSchedule
from authserver.keys.store import FileKeyStore
from authserver.login.signin import SignIn
from authserver.oauth import AuthorizationServer
from authserver.settings import Settings
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


def key_store(settings: Settings) -> FileKeyStore:
    passphrase = settings.keys_passphrase
    return FileKeyStore(settings.keys_dir, passphrase.get_secret_value() if passphrase else None)


def build_services(settings: Settings, database: Database) -> Services:
    """Create the first signing keys if the store is empty, then load them once."""
    store = key_store(settings)
    ensure_signing_keys(store, settings.keys_rsa_bits, utcnow())
    keyring = KeyRing(store, settings.keys_reload_interval)
    clients = ClientCache(
        lambda client_id: _load_client(database, client_id), settings.client_cache_ttl
    )
    access_tokens = AccessTokenIssuer(settings.issuer, keyring, settings.access_token_ttl)
    id_tokens = IdTokenIssuer(settings.issuer, keyring, settings.id_token_ttl)
    oauth = AuthorizationServer(settings, database, clients, access_tokens, id_tokens, keyring)
    sign_in = SignIn(
        database,
        settings.password_hashing(),
        settings.session_ttl,
        settings.login_max_concurrent_hashes,
    )
    rotation = RotationSchedule(settings, store, database)
    return Services(settings, database, keyring, oauth, sign_in, rotation)


def _load_client(database: Database, client_id: str) -> Client | None:
    with database.transaction() as session:
        return ClientRepository(session).get(client_id)

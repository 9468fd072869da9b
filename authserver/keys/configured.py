"""The key store the settings name (AUTHSERVER_KEYS_STORE), for the server and the CLI."""

from authserver.db import Database
from authserver.keys.database import DatabaseKeyStore
from authserver.keys.store import FileKeyStore, KeyStore
from authserver.settings import Settings


def open_key_store(settings: Settings, database: Database) -> KeyStore:
    """The store AUTHSERVER_KEYS_STORE names: the key directory, or the database."""
    passphrase = settings.keys_passphrase
    secret = passphrase.get_secret_value() if passphrase else None
    if settings.keys_store == "database":
        return DatabaseKeyStore(database, secret)
    return FileKeyStore(settings.keys_dir, secret)

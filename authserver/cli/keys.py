"""`authserver keys ...`: list, rotate, revoke, import and export signing keys."""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from authserver.audit import record_event
from authserver.cli.context import JsonOption, emit, warn
from authserver.clock import utcnow
from authserver.db import Database
from authserver.errors import ConfigurationError, KeyStoreError
from authserver.keys.configured import open_key_store
from authserver.keys.events import record_revocation, record_rotation
from authserver.keys.keyring import key_retention
from authserver.keys.rotation import revoke_signing_key, rotate_signing_keys
from authserver.keys.store import FileKeyStore, KeyStore
from authserver.keys.transfer import copy_keys
from authserver.schema import ensure_schema_is_current
from authserver.settings import Settings, load_settings

app = typer.Typer(no_args_is_help=True, help="Signing keys (docs/keys.md).")


@contextmanager
def configured_store(settings: Settings) -> Iterator[tuple[KeyStore, Database]]:
    """The key store of AUTHSERVER_KEYS_STORE, and the database its changes are audited in."""
    database = Database(settings.database_url)
    try:
        ensure_schema_is_current(database)
        store = open_key_store(settings, database)
        try:
            yield store, database
        finally:
            store.close()
    finally:
        database.dispose()


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """Every key in the store with its state and dates; never a private part."""
    with configured_store(load_settings()) as (store, _):
        records = store.read_records()
    keys = [
        {
            "kid": r.kid,
            "state": r.state.value,
            "alg": r.alg,
            "created_at": r.created_at.isoformat(),
            "activated_at": r.activated_at.isoformat() if r.activated_at else None,
            "retired_at": r.retired_at.isoformat() if r.retired_at else None,
        }
        for r in records
    ]
    lines = [f"{k['kid']}  {k['alg']:<5} {k['state']:<8} created {k['created_at']}" for k in keys]
    emit(as_json, keys, "\n".join(lines) or "no keys (the server creates them at start)")


@app.command("rotate")
def rotate(as_json: JsonOption = False) -> None:
    """Promote the next key to current, retire the current one, publish a new next key
    (of each algorithm in use: a new AUTHSERVER_SIGNING_ALG takes over now)."""
    settings = load_settings()
    settings.ensure_production_ready()
    with configured_store(settings) as (store, database):
        rotation = rotate_signing_keys(
            store,
            settings.keys_rsa_bits,
            utcnow(),
            retention=key_retention(settings),
            min_notice=settings.next_key_notice,
            algorithms=settings.signing_algorithms,
        )
        if rotation is None:  # only a scheduled rotation sets a condition
            raise KeyStoreError("the rotation did not happen")
        with database.transaction() as db:
            record_rotation(db, rotation, scheduled=False)
    for message in rotation.warnings:
        warn(message)
    data = {
        "current": rotation.promoted_kid,
        "next": rotation.next_kid,
        "retired": rotation.retired_kid,
        "removed": rotation.removed_kids,
        **({"extra": rotation.extra_kids} if rotation.extra_kids else {}),
    }
    text = f"current: {rotation.promoted_kid}\nnext: {rotation.next_kid}"
    if rotation.retired_kid:
        text += f"\nretired: {rotation.retired_kid}"
    for alg, (current, upcoming) in rotation.extra_kids.items():
        text += f"\n{alg} current: {current}\n{alg} next: {upcoming}"
    emit(as_json, data, text)


# A kid is base64url and may begin with "-": it must not be read as an option.
@app.command("revoke", context_settings={"ignore_unknown_options": True})
def revoke(kid: str, as_json: JsonOption = False) -> None:
    """Emergency: remove a compromised key from the JWKS now; its tokens stop verifying."""
    settings = load_settings()
    settings.ensure_production_ready()
    with configured_store(settings) as (store, database):
        revocation = revoke_signing_key(
            store, kid, settings.keys_rsa_bits, utcnow(), algorithms=settings.signing_algorithms
        )
        with database.transaction() as db:
            record_revocation(db, revocation)
    for message in revocation.warnings:
        warn(message)
    data = {
        "revoked": revocation.revoked_kid,
        "current": revocation.current_kid,
        "next": revocation.next_kid,
    }
    reload = int(settings.keys_reload_interval.total_seconds())
    text = (
        f"revoked: {revocation.revoked_kid}\ncurrent: {revocation.current_kid}\n"
        f"next: {revocation.next_kid}\n(running servers drop it within {reload} s)"
    )
    emit(as_json, data, text)


FromPassphraseEnv = Annotated[
    str | None,
    typer.Option(
        help="The environment variable holding the other store's passphrase, when it is "
        "not AUTHSERVER_KEYS_PASSPHRASE (keys are re-sealed with AUTHSERVER_KEYS_PASSPHRASE)."
    ),
]


@app.command("import")
def import_keys(
    from_dir: Annotated[Path, typer.Option(help="A file key store (an AUTHSERVER_KEYS_DIR).")],
    from_passphrase_env: FromPassphraseEnv = None,
    as_json: JsonOption = False,
) -> None:
    """Copy a file key store into the configured (empty) store, states and dates kept:
    how one host's keys become the fleet's (AUTHSERVER_KEYS_STORE=database)."""
    # The variable named by --from-passphrase-env is ours to read, not an unknown setting.
    settings = load_settings(allowed_variables=[from_passphrase_env] if from_passphrase_env else [])
    settings.ensure_production_ready()
    if settings.keys_store == "file" and from_dir.resolve() == settings.keys_dir.resolve():
        raise ConfigurationError("the source is the configured key directory itself")
    source = FileKeyStore(from_dir, _passphrase(from_passphrase_env, settings))
    with configured_store(settings) as (store, database):
        records = copy_keys(source, store)
        with database.transaction() as db:
            for record in records:
                record_event(db, "key.imported", kid=record.kid, state=record.state.value)
    data = [{"kid": r.kid, "state": r.state.value} for r in records]
    lines = [f"imported {r.kid} ({r.state.value}) into {store.description}" for r in records]
    emit(as_json, data, "\n".join(lines))


@app.command("export")
def export_keys(
    to_dir: Annotated[Path, typer.Option(help="A new, empty file key store.")],
    as_json: JsonOption = False,
) -> None:
    """Copy the configured store into a new key directory, sealed with
    AUTHSERVER_KEYS_PASSPHRASE: a backup, or the way back to one host."""
    settings = load_settings()
    settings.ensure_production_ready()
    if to_dir.exists() and any(to_dir.iterdir()):
        raise ConfigurationError(f"{to_dir} is not empty")
    with configured_store(settings) as (store, database):
        records = copy_keys(store, FileKeyStore(to_dir, _passphrase(None, settings)))
        with database.transaction() as db:
            for record in records:
                record_event(db, "key.exported", kid=record.kid, to_dir=str(to_dir))
    data = [{"kid": r.kid, "state": r.state.value} for r in records]
    emit(as_json, data, "\n".join(f"exported {r.kid} ({r.state.value})" for r in records))


def _passphrase(variable: str | None, settings: Settings) -> str | None:
    if variable is None:
        secret = settings.keys_passphrase
        return secret.get_secret_value() if secret else None
    value = os.environ.get(variable)
    if not value:
        raise ConfigurationError(f"{variable} is not set")
    return value

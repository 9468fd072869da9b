"""`authserver keys ...`: list, rotate and revoke signing keys."""

import typer

from authserver.cli.context import JsonOption, emit, warn
from authserver.clock import utcnow
from authserver.errors import KeyStoreError
from authserver.keys.keyring import key_retention
from authserver.keys.rotation import revoke_signing_key, rotate_signing_keys
from authserver.services import key_store
from authserver.settings import load_settings

app = typer.Typer(no_args_is_help=True, help="Signing keys (docs/keys.md).")


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """Every key in the store with its state and dates; never a private part."""
    records = key_store(load_settings()).read_records()
    keys = [
        {
            "kid": r.kid,
            "state": r.state.value,
            "created_at": r.created_at.isoformat(),
            "activated_at": r.activated_at.isoformat() if r.activated_at else None,
            "retired_at": r.retired_at.isoformat() if r.retired_at else None,
        }
        for r in records
    ]
    lines = [f"{k['kid']}  {k['state']:<8} created {k['created_at']}" for k in keys]
    emit(as_json, keys, "\n".join(lines) or "no keys (the server creates them at start)")


@app.command("rotate")
def rotate(as_json: JsonOption = False) -> None:
    """Promote the next key to current, retire the current one, publish a new next key."""
    settings = load_settings()
    settings.ensure_production_ready()
    rotation = rotate_signing_keys(
        key_store(settings),
        settings.keys_rsa_bits,
        utcnow(),
        retention=key_retention(settings),
        min_notice=settings.next_key_notice,
    )
    if rotation is None:  # only a scheduled rotation sets a condition
        raise KeyStoreError("the rotation did not happen")
    for message in rotation.warnings:
        warn(message)
    data = {
        "current": rotation.promoted_kid,
        "next": rotation.next_kid,
        "retired": rotation.retired_kid,
        "removed": rotation.removed_kids,
    }
    text = f"current: {rotation.promoted_kid}\nnext: {rotation.next_kid}"
    if rotation.retired_kid:
        text += f"\nretired: {rotation.retired_kid}"
    emit(as_json, data, text)


# A kid is base64url and may begin with "-": it must not be read as an option.
@app.command("revoke", context_settings={"ignore_unknown_options": True})
def revoke(kid: str, as_json: JsonOption = False) -> None:
    """Emergency: remove a compromised key from the JWKS now; its tokens stop verifying."""
    settings = load_settings()
    settings.ensure_production_ready()
    revocation = revoke_signing_key(key_store(settings), kid, settings.keys_rsa_bits, utcnow())
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

"""The database key store with keys of every signing algorithm, on SQLite and PostgreSQL:
sealed rows whose public JWK keeps its `alg` (RFC 7517 §4.4), a change of algorithm at
start-up, and rotation of all algorithms together (docs/keys.md, "Choosing the algorithm")."""

import json
from datetime import timedelta

from sqlmodel import select

from authserver.clock import utcnow
from authserver.db import Database
from authserver.keys.database import DatabaseKeyStore
from authserver.keys.keyring import KeyRing
from authserver.keys.models import SigningKey
from authserver.keys.rotation import align_signing_keys, ensure_signing_keys, rotate_signing_keys

PASSPHRASE = "a passphrase for the fleet"
ALGORITHMS = ("ES256", "PS256", "EdDSA")


def rows(database: Database) -> list[SigningKey]:
    with database.transaction() as db:
        return list(db.exec(select(SigningKey)).all())


def test_sealed_rows_of_every_algorithm_keep_their_alg_and_sign(database: Database) -> None:
    store = DatabaseKeyStore(database, PASSPHRASE)
    assert ensure_signing_keys(store, 2048, utcnow(), algorithms=ALGORITHMS)
    stored = rows(database)
    assert sorted((json.loads(r.public_jwk)["alg"], r.state) for r in stored) == sorted(
        (alg, state) for alg in ALGORITHMS for state in ("current", "next")
    )
    for row in stored:
        assert json.loads(row.private_key)["format"] == "authserver-sealed-key"
        assert not {"d", "p", "q"} & json.loads(row.public_jwk).keys()
    ring = KeyRing(DatabaseKeyStore(database, PASSPHRASE), timedelta(0), "ES256")
    assert ring.signer.alg == "ES256"
    assert {alg: ring.signer_for(alg).alg for alg in ALGORITHMS} == {a: a for a in ALGORITHMS}  # type: ignore[union-attr]


def test_an_rs256_store_switches_to_eddsa_at_the_next_rotation(database: Database) -> None:
    store = DatabaseKeyStore(database, None)
    ensure_signing_keys(store, 2048, utcnow())
    old_current = next(r.kid for r in store.read_records() if r.state.value == "current")

    alignment = align_signing_keys(store, 2048, utcnow(), algorithms=("EdDSA",))

    assert alignment is not None and len(alignment.removed_kids) == 1
    assert sorted((r.alg, r.state.value) for r in store.read_records()) == [
        ("EdDSA", "next"),
        ("RS256", "current"),
    ]
    assert {r.kid for r in rows(database)} == {r.kid for r in store.read_records()}
    ring = KeyRing(store, timedelta(0), "EdDSA")
    assert ring.signer.kid == old_current

    rotation = rotate_signing_keys(
        store,
        2048,
        utcnow(),
        retention=timedelta(minutes=20),
        min_notice=timedelta(0),
        algorithms=("EdDSA",),
    )

    assert rotation is not None and rotation.retired_kid == old_current
    assert ring.signer.alg == "EdDSA" and ring.verification_key(old_current) is not None

"""Keys of each signing algorithm in the file store (RFC 7518 §3.3-3.5, RFC 8037 §3.1), and
what a change of AUTHSERVER_SIGNING_ALG / AUTHSERVER_EXTRA_SIGNING_ALGS does to a store
(docs/keys.md, "Choosing the algorithm")."""

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, PSS
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256

from authserver.clock import utcnow
from authserver.errors import KeyStoreError
from authserver.jose import thumbprint, verify_jws
from authserver.keys.keyring import KeyRing
from authserver.keys.records import KeyState
from authserver.keys.rotation import (
    align_signing_keys,
    ensure_signing_keys,
    revoke_signing_key,
    rotate_signing_keys,
    rotation_due,
)
from authserver.keys.store import FileKeyStore
from authserver.keys.transfer import copy_keys

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
# RFC 7518 §6.2-6.3, RFC 8037 §2: the key type (and curve) each algorithm needs.
KEY_TYPES = {"RS256": ("RSA", None), "PS256": ("RSA", None), "ES256": ("EC", "P-256")}
KEY_TYPES["EdDSA"] = ("OKP", "Ed25519")
RETENTION = timedelta(minutes=20)


def fresh_store(tmp_path: Path, *algorithms: str, passphrase: str | None = None) -> FileKeyStore:
    store = FileKeyStore(tmp_path / "keys", passphrase)
    assert ensure_signing_keys(store, 2048, utcnow(), algorithms=algorithms)
    return store


def keys_by_state(store: FileKeyStore) -> set[tuple[str, str]]:
    return {(r.alg, r.state.value) for r in store.read_records()}


def rotate(store: FileKeyStore, *algorithms: str):
    return rotate_signing_keys(
        store, 2048, utcnow(), retention=RETENTION, min_notice=timedelta(0), algorithms=algorithms
    )


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_a_fresh_store_holds_a_current_and_a_next_key_of_the_algorithm(
    tmp_path: Path, alg: str
) -> None:
    store = fresh_store(tmp_path, alg)
    records = store.read_records()
    assert [(r.state, r.alg) for r in records] == [(KeyState.CURRENT, alg), (KeyState.NEXT, alg)]
    kty, crv = KEY_TYPES[alg]
    for record in records:
        assert (record.public_jwk["kty"], record.public_jwk.get("crv")) == (kty, crv)
        # RFC 7638: the kid is the thumbprint of the public key.
        assert record.kid == thumbprint(record.public_jwk)
        assert store.load_private_key(record.kid).kid == record.kid


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_manifest_keeps_the_alg_in_the_public_jwk_and_no_private_member(
    tmp_path: Path, alg: str
) -> None:
    store = fresh_store(tmp_path, alg)
    manifest = json.loads((store.directory / "keyring.json").read_text())
    for item in manifest["keys"]:
        public = item["public_jwk"]
        assert not {"d", "p", "q", "dp", "dq", "qi"} & public.keys()
        # A record without alg is RS256 (the stores before): RS256 keys are written so.
        assert public.get("alg", "RS256") == alg
        assert ("alg" in public) is (alg != "RS256")


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_the_key_ring_signs_with_the_current_key_and_its_published_key_verifies(
    tmp_path: Path, alg: str
) -> None:
    ring = KeyRing(fresh_store(tmp_path, alg), timedelta(0), alg)
    signer = ring.signer
    assert (signer.kid, signer.alg) == (ring.current_kid, alg)
    signing_input = b"eyJhbGciOiJ4In0.eyJzdWIiOiJ4In0"
    signature = signer.sign(signing_input)
    key = ring.verification_key(signer.kid)
    assert key is not None and key.alg == alg
    assert verify_jws(alg, signing_input, signature, key, b"payload") == b"payload"
    # The JWKS publishes the key with its alg, `use: sig`, its kid, public members only.
    published = json.loads(ring.jwks.body)["keys"]
    assert {k["alg"] for k in published} == {alg}
    assert all(k["use"] == "sig" and "d" not in k for k in published)


def test_ps256_is_pss_with_mgf1_sha256_and_a_32_byte_salt(tmp_path: Path) -> None:
    # RFC 7518 §3.5: the salt is as long as the hash output.
    ring = KeyRing(fresh_store(tmp_path, "PS256"), timedelta(0), "PS256")
    signature = ring.signer.sign(b"input")
    public_key = ring.signing_key.private_key.public_key()  # type: ignore[union-attr]
    public_key.verify(signature, b"input", PSS(mgf=MGF1(SHA256()), salt_length=32), SHA256())  # type: ignore[union-attr,call-arg]


def test_es256_is_r_and_s_of_32_bytes_each_not_der(tmp_path: Path) -> None:
    # RFC 7518 §3.4: the JWS signature is R || S, 64 octets for P-256.
    ring = KeyRing(fresh_store(tmp_path, "ES256"), timedelta(0), "ES256")
    signature = ring.signer.sign(b"input")
    assert len(signature) == 64
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    public_key = ring.signing_key.private_key.public_key()  # type: ignore[union-attr]
    public_key.verify(encode_dss_signature(r, s), b"input", ECDSA(SHA256()))  # type: ignore[call-arg,arg-type]


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
def test_keys_of_every_type_are_sealed_with_the_passphrase(tmp_path: Path, alg: str) -> None:
    store = fresh_store(tmp_path, alg, passphrase="correct horse battery staple")
    assert sorted(p.suffix for p in store.directory.glob("key-*")) == [".sealed", ".sealed"]
    ring = KeyRing(store, timedelta(0), alg)
    assert ring.signer.alg == alg
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        FileKeyStore(store.directory, "not the passphrase").load_private_key(ring.current_kid)


@pytest.mark.parametrize(
    ("stored_alg", "alg"),
    [("ES256", "RS256"), ("ES256", "ES384"), ("ES256", "EdDSA"), ("PS256", "ES256")],
)
def test_a_record_whose_alg_does_not_fit_its_key_is_refused(
    tmp_path: Path, stored_alg: str, alg: str
) -> None:
    # RFC 8725 §3.1: a key is published for, and used with, the one alg of its type.
    store = fresh_store(tmp_path, stored_alg)
    manifest = store.directory / "keyring.json"
    document = json.loads(manifest.read_text())
    document["keys"][0]["public_jwk"]["alg"] = alg
    manifest.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match=r"keyring\.json"):
        store.read_records()


def test_a_store_of_the_version_before_reads_as_rs256(keys_dir: Path) -> None:
    # The template keys: a manifest without any alg, as every store was before.
    manifest = json.loads((keys_dir / "keyring.json").read_text())
    assert all("alg" not in item["public_jwk"] for item in manifest["keys"])
    store = FileKeyStore(keys_dir, None)
    assert {r.alg for r in store.read_records()} == {"RS256"}
    assert align_signing_keys(store, 2048, utcnow(), algorithms=("RS256",)) is None
    assert KeyRing(store, timedelta(0)).signer.alg == "RS256"


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_rotation_keeps_the_algorithm_and_publishes_the_retired_key(
    tmp_path: Path, alg: str
) -> None:
    store = fresh_store(tmp_path, alg)
    ring = KeyRing(store, timedelta(0), alg)
    before = ring.signer
    rotation = rotate(store, alg)
    assert rotation is not None and rotation.retired_kid == before.kid
    assert ring.signer.kid == rotation.promoted_kid and ring.signer.alg == alg
    assert keys_by_state(store) == {(alg, "current"), (alg, "next"), (alg, "retired")}
    assert ring.verification_key(before.kid) is not None  # its tokens still verify


def test_a_new_signing_alg_gets_a_next_key_and_signs_from_the_next_rotation(
    keys_dir: Path,
) -> None:
    store = FileKeyStore(keys_dir, None)
    old_current = next(r for r in store.read_records() if r.state is KeyState.CURRENT)
    old_next = next(r for r in store.read_records() if r.state is KeyState.NEXT)

    alignment = align_signing_keys(store, 2048, utcnow(), algorithms=("ES256",))

    assert alignment is not None and alignment.removed_kids == [old_next.kid]
    assert [(r.alg, r.state.value) for r in alignment.created] == [("ES256", "next")]
    assert keys_by_state(store) == {("RS256", "current"), ("ES256", "next")}
    assert not list(keys_dir.glob(f"key-{old_next.kid}.*"))  # it never signed: gone
    ring = KeyRing(store, timedelta(0), "ES256")
    # Until the ES256 key has been published long enough, the RS256 key goes on signing.
    assert (ring.signer.kid, ring.signer.alg) == (old_current.kid, "RS256")
    assert align_signing_keys(store, 2048, utcnow(), algorithms=("ES256",)) is None

    rotation = rotate(store, "ES256")

    assert rotation is not None and rotation.retired_kid == old_current.kid
    assert keys_by_state(store) == {("RS256", "retired"), ("ES256", "current"), ("ES256", "next")}
    assert ring.signer.alg == "ES256"
    assert ring.verification_key(old_current.kid) is not None  # published until it expires


def test_an_extra_alg_gets_current_and_next_keys_at_once_and_rotates_with_the_others(
    keys_dir: Path,
) -> None:
    store = FileKeyStore(keys_dir, None)
    algorithms = ("RS256", "ES256", "EdDSA")
    alignment = align_signing_keys(store, 2048, utcnow(), algorithms=algorithms)
    assert alignment is not None and alignment.removed_kids == []
    assert keys_by_state(store) == {(alg, s) for alg in algorithms for s in ("current", "next")}
    ring = KeyRing(store, timedelta(0), "RS256")
    assert ring.signer.alg == "RS256"
    assert ring.signer_for("ES256").alg == "ES256"  # type: ignore[union-attr]
    assert ring.signer_for("PS256") is None
    assert {k["alg"] for k in json.loads(ring.jwks.body)["keys"]} == set(algorithms)

    rotation = rotate(store, *algorithms)

    assert rotation is not None and set(rotation.extra_kids) == {"ES256", "EdDSA"}
    assert ring.signer_for("ES256").kid == rotation.extra_kids["ES256"][0]  # type: ignore[union-attr]
    assert sorted(keys_by_state(store)) == sorted(
        {(alg, s) for alg in algorithms for s in ("current", "next", "retired")}
    )


def test_a_dropped_extra_alg_loses_its_next_key_now_and_its_current_at_rotation(
    tmp_path: Path,
) -> None:
    store = fresh_store(tmp_path, "RS256", "ES256")
    align_signing_keys(store, 2048, utcnow(), algorithms=("RS256",))
    assert keys_by_state(store) == {("RS256", "current"), ("RS256", "next"), ("ES256", "current")}
    rotate(store, "RS256")
    assert keys_by_state(store) == {
        ("RS256", "current"),
        ("RS256", "next"),
        ("RS256", "retired"),
        ("ES256", "retired"),
    }


def test_revoking_the_old_current_key_during_a_switch_promotes_the_new_algorithm(
    keys_dir: Path,
) -> None:
    store = FileKeyStore(keys_dir, None)
    align_signing_keys(store, 2048, utcnow(), algorithms=("EdDSA",))
    old = next(r.kid for r in store.read_records() if r.state is KeyState.CURRENT)
    revocation = revoke_signing_key(store, old, 2048, utcnow(), algorithms=("EdDSA",))
    assert keys_by_state(store) == {("EdDSA", "current"), ("EdDSA", "next")}
    assert any("signs from now on" in warning for warning in revocation.warnings)
    assert KeyRing(store, timedelta(0), "EdDSA").signer.kid == revocation.current_kid


def test_rotation_is_due_once_every_next_key_was_published_long_enough(keys_dir: Path) -> None:
    store = FileKeyStore(keys_dir, None)
    now = utcnow()
    notice, interval = timedelta(minutes=6), timedelta(seconds=0)
    # Long published RS256 keys; an EdDSA next key made just now must wait out the notice.
    align_signing_keys(store, 2048, now, algorithms=("EdDSA",))
    records = store.read_records()
    assert not rotation_due(records, now, interval=interval, notice=notice)
    assert rotation_due(records, now + notice, interval=interval, notice=notice)


def test_keys_of_other_algorithms_move_between_stores_with_their_alg(tmp_path: Path) -> None:
    # `keys import` / `keys export`: each key keeps its alg, PS256 included (an RSA key
    # whose alg only its record tells).
    source = fresh_store(tmp_path / "a", "PS256", "ES256", "EdDSA")
    target = FileKeyStore(tmp_path / "b" / "keys", "correct horse battery staple")
    copy_keys(source, target)
    assert keys_by_state(target) == keys_by_state(source)
    ring = KeyRing(target, timedelta(0), "PS256")
    assert (ring.signer.alg, ring.signer_for("EdDSA").alg) == ("PS256", "EdDSA")  # type: ignore[union-attr]

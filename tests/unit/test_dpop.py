"""`authserver.dpop` without HTTP: the RFC 9449 examples, each check of §4.3, the htu
normalization (RFC 3986 §6.2), nonces (§8) and the resource side's replay memory (§11.1).

Times are passed in (`now`), never read: nothing here depends on the clock."""

import pytest

from authserver.dpop import (
    DPoPProof,
    NonceNeeded,
    NonceSource,
    ProofRejected,
    SeenProofs,
    access_token_hash,
    bound_key,
    check_proof,
    confirmation,
    normalized_uri,
    single_proof,
)
from authserver.dpop.uri import remove_dot_segments
from authserver.jose import JwtRejected
from tests.dpop_proofs import DPoPKey, hs256_proof, unsigned_proof

# RFC 9449 Figure 2 (a token request's proof) and Figure 13 (a protected resource
# request's, with `ath`), both by the key of Figure 4, whose thumbprint Figure 9 gives.
FIGURE_2 = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0Vj"
    "NoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5"
    "VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVC"
    "IsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP"
    "4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
FIGURE_13 = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0Vj"
    "NoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5"
    "VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIi"
    "wiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2"
    "MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhr"
    "tNP86L-Ey71EOptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
FIGURE_9_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
FIGURE_6_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
URL = "https://server.example.com/token"
NOW = 1_700_000_000


def check(proof: str, **overrides: object) -> DPoPProof:
    options: dict[str, object] = {
        "method": "POST",
        "url": URL,
        "now": NOW,
        "max_age": 60,
        "leeway": 5,
    }
    options.update(overrides)
    return check_proof(proof, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def key() -> DPoPKey:
    return DPoPKey.generate()


def test_the_rfc_examples_verify() -> None:
    """RFC 9449 Figures 2, 9, 13 and 14."""
    token_request = check(FIGURE_2, now=1562262616)
    assert token_request == DPoPProof(FIGURE_9_JKT, "-BwC3ESc6acc2lTc", 1562262616)
    resource = check(
        FIGURE_13,
        method="GET",
        url="https://resource.example.org/protectedresource",
        now=1562262618,
        access_token=FIGURE_6_TOKEN,
    )
    assert resource.jkt == FIGURE_9_JKT
    assert access_token_hash(FIGURE_6_TOKEN) == "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256", "EdDSA"])
def test_each_algorithm_verifies_and_names_its_key(alg: str) -> None:
    dpop_key = DPoPKey.generate(alg)
    proof = check(dpop_key.proof("POST", URL, iat=NOW, jti="one"))
    assert proof == DPoPProof(dpop_key.jkt, "one", NOW)


def test_the_window_of_iat(key: DPoPKey) -> None:
    """§4.3 step 11, §11.1: at most `max_age` old, at most `leeway` ahead."""
    assert check(key.proof("POST", URL, iat=NOW - 60)).iat == NOW - 60
    assert check(key.proof("POST", URL, iat=NOW + 5)).iat == NOW + 5
    with pytest.raises(ProofRejected, match="too old"):
        check(key.proof("POST", URL, iat=NOW - 61))
    with pytest.raises(ProofRejected, match="future"):
        check(key.proof("POST", URL, iat=NOW + 6))


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"header": {"typ": "jwt"}}, "typ"),
        ({"header": {"typ": None}}, "typ"),
        ({"header": {"jwk": None}}, "jwk"),
        ({"header": {"jku": "https://attacker.example/jwks"}}, "names a key"),
        ({"header": {"x5c": ["MIIB"]}}, "names a key"),
        ({"header": {"crit": ["exp"]}}, "names a key"),
        ({"header": {"alg": "ES384"}}, "alg"),
        ({"header": {"alg": "RS256"}}, "alg does not match"),
        ({"jti": None}, "jti"),
        ({"jti": ""}, "jti"),
        ({"jti": 7}, "jti"),
        ({"htm": None}, "htm"),
        ({"htm": "post"}, "htm"),
        ({"htu": None}, "htu"),
        ({"htu": "https://server.example.com/other"}, "htu"),
        ({"htu": "ftp://server.example.com/token"}, "htu"),
        ({"iat": None}, "iat"),
        ({"iat": True}, "iat"),
        ({"iat": float("nan")}, "iat"),
        ({"iat": float("inf")}, "iat"),
        ({"nonce": 1}, "nonce"),
    ],
)
def test_each_check_has_its_reason(key: DPoPKey, changes: dict[str, object], reason: str) -> None:
    """§4.2, §4.3 steps 2-9: the message names the check, and never echoes the proof."""
    claims = {"iat": NOW, **{name: value for name, value in changes.items() if name != "header"}}
    header = changes.get("header")
    proof = key.proof("POST", URL, header=header, **claims)  # type: ignore[arg-type]
    with pytest.raises(ProofRejected, match=reason) as raised:
        check(proof)
    assert proof not in str(raised.value)


def test_no_symmetric_or_unsigned_proof_and_no_private_key(key: DPoPKey) -> None:
    """§4.3 steps 5 and 7, §11.6."""
    for proof in (unsigned_proof(key, "POST", URL), hs256_proof(key, "POST", URL)):
        with pytest.raises(ProofRejected, match="alg"):
            check(proof)
    private = key.proof("POST", URL, iat=NOW, header={"jwk": key.private_jwk})
    with pytest.raises(ProofRejected, match="private"):
        check(private)


def test_a_signature_of_another_key_or_of_other_claims_fails(key: DPoPKey) -> None:
    """§4.3 step 6."""
    forged = DPoPKey.generate().proof("POST", URL, iat=NOW, header={"jwk": key.jwk})
    header, _, signature = key.proof("POST", URL, iat=NOW).split(".")
    swapped = ".".join([header, forged.split(".")[1], signature])
    for proof in (forged, swapped):
        with pytest.raises(ProofRejected, match="signature"):
            check(proof)


@pytest.mark.parametrize(
    "proof", ["", "a.b", "a.b.c.d", "ééé.a.b", "!!!.a.b", "e30.e30.", "x" * 9000]
)
def test_malformed_proofs_are_rejected(proof: str) -> None:
    """§4.3 step 2: one well-formed JWT of at most 8 KiB."""
    with pytest.raises(ProofRejected):
        check(proof)


def test_ath_binds_the_proof_to_its_access_token(key: DPoPKey) -> None:
    """§4.3 step 12, §7."""
    proof = key.proof("GET", URL, iat=NOW, access_token="token-1")
    assert check(proof, method="GET", access_token="token-1")
    with pytest.raises(ProofRejected, match="ath"):
        check(
            key.proof("GET", URL, iat=NOW, access_token="token-1"),
            method="GET",
            access_token="token-2",
        )
    with pytest.raises(ProofRejected, match="ath"):
        check(key.proof("GET", URL, iat=NOW), method="GET", access_token="token-1")


def test_the_nonce_is_checked_last(key: DPoPKey) -> None:
    """§8: `use_dpop_nonce` only for an otherwise good proof."""

    def only_good(nonce: str) -> bool:
        return nonce == "good"

    assert check(key.proof("POST", URL, iat=NOW, nonce="good"), nonce_valid=only_good)
    for nonce in (None, "stale"):
        with pytest.raises(NonceNeeded):
            check(key.proof("POST", URL, iat=NOW, nonce=nonce), nonce_valid=only_good)
    with pytest.raises(ProofRejected) as raised:
        check(key.proof("GET", URL, iat=NOW), nonce_valid=only_good)
    assert not isinstance(raised.value, NonceNeeded)


def test_one_dpop_header_at_most() -> None:
    """§4.3 step 1."""
    assert single_proof([]) is None
    assert single_proof(["a"]) == "a"
    with pytest.raises(ProofRejected, match="more than one"):
        single_proof(["a", "b"])


@pytest.mark.parametrize(
    ("uri", "normalized"),
    [
        ("https://server.example.com/token", "https://server.example.com/token"),
        ("HTTPS://Server.EXAMPLE.com:443/token?x=1#top", "https://server.example.com/token"),
        ("http://server.example.com:80", "http://server.example.com/"),
        ("https://server.example.com:8443/a/./b/../c", "https://server.example.com:8443/a/c"),
        ("https://server.example.com/%7euser/%2f", "https://server.example.com/~user/%2F"),
        ("https://[::1]:8000/token", "https://[::1]:8000/token"),
        ("ftp://server.example.com/token", None),
        ("https://user@server.example.com/token", None),
        ("https://server.example.com:99999/token", None),
        ("/token", None),
    ],
)
def test_htu_normalization(uri: str, normalized: str | None) -> None:
    """§4.3: RFC 3986 §6.2.2 (case, percent-encoding, dot-segments), §6.2.3 (port, path)."""
    assert normalized_uri(uri) == normalized


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/a/b/c/./../../g", "/a/g"), ("mid/content=5/../6", "mid/6"), ("/..", "/"), ("/.", "/")],
)
def test_remove_dot_segments(path: str, expected: str) -> None:
    """RFC 3986 §5.2.4's examples."""
    assert remove_dot_segments(path) == expected


def test_nonces_live_two_windows_and_are_the_same_on_every_replica() -> None:
    """§8: unpredictable without the key; accepted in their window and the next."""
    first, replica = NonceSource(b"k" * 32, 60), NonceSource(b"k" * 32, 60)
    nonce = first.issue(NOW)
    assert replica.issue(NOW) == nonce
    assert first.valid(nonce, NOW) and first.valid(nonce, NOW + 60)
    assert not first.valid(nonce, NOW + 120)
    assert not NonceSource(b"x" * 32, 60).valid(nonce, NOW)
    assert not first.valid("not-a-nonce", NOW)
    assert not first.valid("é", NOW)
    assert NonceSource.random(60).issue(NOW) != nonce


def test_a_passphrase_gives_every_replica_the_same_nonces() -> None:
    one = NonceSource.from_passphrase("correct horse battery staple", "https://a.test", 30)
    two = NonceSource.from_passphrase("correct horse battery staple", "https://a.test", 30)
    other_issuer = NonceSource.from_passphrase("correct horse battery staple", "https://b.test", 30)
    assert one.issue(NOW) == two.issue(NOW) != other_issuer.issue(NOW)


def test_seen_proofs_refuse_a_replay_and_forget_expired_ones() -> None:
    """§11.1: remembered until the proof would be refused as too old anyway."""
    seen = SeenProofs(max_entries=2)
    assert seen.first_use("a", expires_at=NOW + 10, now=NOW)
    assert not seen.first_use("a", expires_at=NOW + 10, now=NOW + 5)
    assert seen.first_use("b", expires_at=NOW + 20, now=NOW)
    # Full: a new proof is refused rather than an old one forgotten early.
    assert not seen.first_use("c", expires_at=NOW + 20, now=NOW + 5)
    assert seen.first_use("c", expires_at=NOW + 30, now=NOW + 10)
    assert len(seen) == 2
    assert seen.first_use("a", expires_at=NOW + 40, now=NOW + 20)


def test_a_tokens_binding() -> None:
    """§6.1: `cnf.jkt`; a `cnf` without one is no binding we can check."""
    assert confirmation(FIGURE_9_JKT) == {"jkt": FIGURE_9_JKT}
    assert bound_key({"cnf": {"jkt": FIGURE_9_JKT}}) == FIGURE_9_JKT
    assert bound_key({"sub": "x"}) is None
    for cnf in ({}, {"x5t#S256": "abc"}, {"jkt": 1}, "jkt"):
        with pytest.raises(JwtRejected):
            bound_key({"cnf": cnf})

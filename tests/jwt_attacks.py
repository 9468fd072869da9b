"""The JWT attack matrix of SECURITY-CHECKLIST.md ("Tests that must exist", item 2).

One list of forged tokens, run against every place that takes a JWT back: `/userinfo`,
`/introspect` and `id_token_hint` at the server (tests/http/test_jwt_matrix.py) and the
resource verifier (tests/resource/test_verifier_matrix.py). Each forgery changes one
thing of a token that is otherwise valid for the target, signed with the issuer's own
key, so a refusal can only be for that one thing; each names the words of the reason
`authserver.jose` gives, so a test also shows it was refused for the right reason.
"""

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from joserfc.jwk import RSAKey

from tests.resource.forge import b64url, hs256, public_jwk, rs256, segment, unsigned

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class Forger:
    """What a forgery starts from: a claim set valid for the target and the keys.

    - `typ`: the header's `typ` for the target (`at+jwt`, or `JWT` for an id_token);
    - `leeway`, `expiry_leeway`: the target's clock skew on `iat`/`nbf` and on `exp`.
    """

    key: RSAKey
    attacker: RSAKey
    claims: dict[str, Any]
    typ: str
    leeway: int = 60
    expiry_leeway: int = 0
    now: int = field(default_factory=lambda: int(time.time()))

    @property
    def other_typ(self) -> str:
        return "JWT" if self.typ == "at+jwt" else "at+jwt"

    def header(self, **changes: Any) -> dict[str, Any]:
        header = {"alg": "RS256", "typ": self.typ, "kid": self.key.kid, **changes}
        return {name: value for name, value in header.items() if value is not None}

    def payload(self, **changes: Any) -> dict[str, Any]:
        claims = {**self.claims, **changes}
        return {name: value for name, value in claims.items() if value is not None}

    def sign(self, claims: dict[str, Any] | str | None = None, **header: Any) -> str:
        """Signed with the issuer's key: only what was changed is wrong."""
        return rs256(self.header(**header), self.payload() if claims is None else claims, self.key)

    def signed_with(self, **changes: Any) -> str:
        return self.sign(self.payload(**changes))

    def by_attacker(self, **header: Any) -> str:
        header = {"kid": self.attacker.kid, **header}
        return rs256(self.header(**header), self.payload(), self.attacker)

    def hmac_keyed_with(self, encoding: Encoding, public_format: PublicFormat) -> str:
        """RFC 8725 §2.1: HS256 keyed with the bytes of our public key."""
        secret = self.key.public_key.public_bytes(encoding, public_format)
        return hs256(self.header(), self.payload(), secret)


def with_payload(token: str, **changes: Any) -> str:
    """The same header and signature around a changed payload."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{header}.{segment({**claims, **changes})}.{signature}"


def non_canonical(token: str) -> str:
    """Flip an unused low bit of the last base64url character: same bytes, other text."""
    return token[:-1] + ALPHABET[ALPHABET.index(token[-1]) ^ 1]


Forgery = Callable[[Forger], str]

# name -> (words of the reason, the forgery)
ATTACKS: dict[str, tuple[str, Forgery]] = {
    # RFC 8725 §3.1: the algorithm comes from the allow-list, never from the token.
    "alg none": ("alg", lambda f: unsigned(f.header(), f.payload())),
    "alg none with a signature": ("alg", lambda f: unsigned(f.header(), f.payload()) + "c2ln"),
    "alg none without kid": ("alg", lambda f: unsigned(f.header(kid=None), f.payload())),
    "alg in lower case": ("alg", lambda f: f.sign(alg="rs256")),
    "alg RS512 claimed over an RS256 signature": ("alg", lambda f: f.sign(alg="RS512")),
    "HS256 keyed with the public key (PEM)": (
        "alg",
        lambda f: f.hmac_keyed_with(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
    ),
    "HS256 keyed with the public key (PKCS#1)": (
        "alg",
        lambda f: f.hmac_keyed_with(Encoding.PEM, PublicFormat.PKCS1),
    ),
    "HS256 keyed with the public key (DER)": (
        "alg",
        lambda f: f.hmac_keyed_with(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
    ),
    "HS256 keyed with the public key (OpenSSH)": (
        "alg",
        lambda f: f.hmac_keyed_with(Encoding.OpenSSH, PublicFormat.OpenSSH),
    ),
    "HS256 keyed with the public key (JWK)": (
        "alg",
        lambda f: hs256(f.header(), f.payload(), json.dumps(public_jwk(f.key)).encode()),
    ),
    # RFC 8725 §3.10, RFC 7515 §4.1: no key named or carried by the token, never fetched.
    "jwk": ("members other", lambda f: f.by_attacker(jwk=public_jwk(f.attacker))),
    "jku": ("members other", lambda f: f.by_attacker(jku="http://127.0.0.1:9/jwks.json")),
    "x5u": ("members other", lambda f: f.by_attacker(x5u="http://127.0.0.1:9/cert.pem")),
    "x5c": ("members other", lambda f: f.by_attacker(x5c=["MIIB"])),
    "crit": ("members other", lambda f: f.sign(crit=["exp"])),
    "jku beside our own kid and key": (
        "members other",
        lambda f: f.sign(jku="http://127.0.0.1:9/"),
    ),
    # Keys: only the issuer's published ones, looked up by kid and nothing else.
    "unknown kid": ("kid", lambda f: f.by_attacker()),
    "kid injection: a path": ("kid", lambda f: f.by_attacker(kid="../../../../../dev/null")),
    "kid injection: SQL": ("kid", lambda f: f.by_attacker(kid="x' OR '1'='1")),
    "kid injection: a URL": ("kid", lambda f: f.by_attacker(kid="http://127.0.0.1:9/key")),
    "our kid, the attacker's key": (
        "signature",
        lambda f: rs256(f.header(), f.payload(), f.attacker),
    ),
    "no kid": ("no kid", lambda f: f.sign(kid=None)),
    "kid not a string": ("no kid", lambda f: f.sign(kid=["a"])),
    # RFC 7515 §5.2: the signature covers header and payload.
    "tampered payload": ("signature", lambda f: with_payload(f.sign(), sub="someone-else")),
    "tampered signature": ("signature", lambda f: f.sign()[:-8] + "AAAAAAAA"),
    # RFC 8725 §3.11, RFC 9068 §2.1: an access token is never an id_token, nor the reverse.
    "typ of the other kind": ("typ", lambda f: f.sign(typ=f.other_typ)),
    "no typ": ("typ", lambda f: f.sign(typ=None)),
    "typ of another media type": ("typ", lambda f: f.sign(typ="application/json")),
    # RFC 8725 §3.8: the issuer, exactly.
    "another iss": ("issuer", lambda f: f.signed_with(iss="https://evil.example.test")),
    "iss with a trailing slash": ("issuer", lambda f: f.signed_with(iss=f.claims["iss"] + "/")),
    "iss as a prefix": ("issuer", lambda f: f.signed_with(iss=f.claims["iss"][:-1])),
    "iss with a suffix": ("issuer", lambda f: f.signed_with(iss=f.claims["iss"] + ".evil.test")),
    "no iss": ("lacks the claims", lambda f: f.signed_with(iss=None)),
    # RFC 7519 §4.1.4-4.1.6, RFC 9068 §4 step 6: dates, integers, within the leeway.
    "expired past the leeway": (
        "expired",
        lambda f: f.signed_with(exp=f.now - f.expiry_leeway - 2, iat=f.now - 900),
    ),
    "expired an hour ago": ("expired", lambda f: f.signed_with(exp=f.now - 3600, iat=f.now - 4500)),
    "iat beyond the leeway": ("iat", lambda f: f.signed_with(iat=f.now + f.leeway + 5)),
    "nbf beyond the leeway": ("nbf", lambda f: f.signed_with(nbf=f.now + f.leeway + 5)),
    "exp a float": ("integers", lambda f: f.signed_with(exp=f.now + 600.5)),
    "exp a string": ("integers", lambda f: f.signed_with(exp=str(f.now + 600))),
    "exp a boolean": ("integers", lambda f: f.signed_with(exp=True)),
    "iat a float": ("integers", lambda f: f.signed_with(iat=f.now + 0.5)),
    "nbf a string": ("integers", lambda f: f.signed_with(nbf=str(f.now))),
    "no exp": ("lacks the claims", lambda f: f.signed_with(exp=None)),
    "no iat": ("lacks the claims", lambda f: f.signed_with(iat=None)),
    "no sub": ("lacks the claims", lambda f: f.signed_with(sub=None)),
    "sub not a string": ("sub", lambda f: f.signed_with(sub=12345)),
    # RFC 7519 §7.2, RFC 8725 §2.6: one parse only, one JSON object.
    "duplicate claim names": (
        "repeats a member name",
        lambda f: f.sign(json.dumps(f.payload())[:-1] + ', "sub": "someone-else"}'),
    ),
    "duplicate header members": (
        "repeats a member name",
        lambda f: rs256(json.dumps(f.header())[:-1] + ', "alg": "none"}', f.payload(), f.key),
    ),
    "payload not an object": ("JSON object", lambda f: f.sign('["not", "an", "object"]')),
    "payload not JSON": ("JSON", lambda f: f.sign("{not json")),
    # RFC 7515 §2, §7.1: canonical base64url, three parts, at most 8 KiB.
    "non-canonical base64url": ("canonical", lambda f: non_canonical(f.sign())),
    "base64 padding": ("base64url", lambda f: f.sign() + "="),
    "base64 instead of base64url": (
        "base64url",
        lambda f: f.sign().replace("-", "+").replace("_", "/") + "+/",
    ),
    "a space inside": ("base64url", lambda f: f.sign().replace(".", ". ", 1)),
    "over 8 KiB": ("8 KiB", lambda f: f.signed_with(padding="x" * 8192)),
    "two parts": ("compact JWS", lambda f: f.sign().rsplit(".", 1)[0]),
    "JWE-shaped (five parts)": (
        "compact JWS",
        lambda f: ".".join(b64url(bytes(16)) + "A" for _ in range(5)),
    ),
    "not a JWT": ("compact JWS", lambda _: "not-a-jwt"),
}

# Only where the target names one audience (the verifier: RFC 9068 §4 step 4). The
# issuer's own userinfo and introspection take its tokens for every audience (CONTRACT.md).
AUDIENCE_ATTACKS: dict[str, tuple[str, Forgery]] = {
    "wrong aud": ("aud", lambda f: f.signed_with(aud="https://profile.example.test")),
    "aud list without ours": (
        "aud",
        lambda f: f.signed_with(aud=["https://a.example.test", "https://b.example.test"]),
    ),
    "aud a prefix of ours": ("aud", lambda f: f.signed_with(aud=f.claims["aud"][:-1])),
    "no aud": ("lacks the claims", lambda f: f.signed_with(aud=None)),
}

# Tokens at the edges that every target must still accept (so the matrix can fail).
ACCEPTED: dict[str, Forgery] = {
    "re-signed unchanged": lambda f: f.sign(),
    "typ with application/ and in capitals": lambda f: f.sign(typ="application/" + f.typ.upper()),
    "iat within the leeway": lambda f: f.signed_with(iat=f.now + f.leeway - 10),
    "nbf within the leeway": lambda f: f.signed_with(nbf=f.now + f.leeway - 10),
    "exp in a few seconds": lambda f: f.signed_with(exp=f.now + f.expiry_leeway + 10),
}

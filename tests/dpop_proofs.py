"""DPoP proofs for tests (RFC 9449 §4.2), signed with PyJWT and real keys: any claim left
out, any header member added, for the server's and the resource verifier's tests alike."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authserver.jose import thumbprint

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_MISSING = object()


def ath_of(token: str) -> str:
    """RFC 9449 §4.2: base64url SHA-256 of the access token."""
    return b64url(hashlib.sha256(token.encode("ascii")).digest())


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class DPoPKey:
    """A client's DPoP key pair and the algorithm it signs proofs with."""

    private: PrivateKey
    alg: str = "ES256"

    @classmethod
    def generate(cls, alg: str = "ES256") -> "DPoPKey":
        if alg == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()), alg)
        if alg in ("RS256", "PS256"):
            return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), alg)
        if alg == "EdDSA":
            return cls(ed25519.Ed25519PrivateKey.generate(), alg)
        raise ValueError(alg)

    @property
    def jwk(self) -> dict[str, Any]:
        """The public JWK (RFC 7517), as a proof's `jwk` header carries it."""
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            return ECAlgorithm.to_jwk(public, as_dict=True)
        if isinstance(public, rsa.RSAPublicKey):
            return RSAAlgorithm.to_jwk(public, as_dict=True)
        return OKPAlgorithm.to_jwk(public, as_dict=True)

    @property
    def private_jwk(self) -> dict[str, Any]:
        """The JWK with its private members: what a proof must never carry (§4.2)."""
        if isinstance(self.private, ec.EllipticCurvePrivateKey):
            return ECAlgorithm.to_jwk(self.private, as_dict=True)
        if isinstance(self.private, rsa.RSAPrivateKey):
            return RSAAlgorithm.to_jwk(self.private, as_dict=True)
        return OKPAlgorithm.to_jwk(self.private, as_dict=True)

    @property
    def jkt(self) -> str:
        """RFC 7638 thumbprint: the `cnf.jkt` of tokens bound to this key (§6.1)."""
        return thumbprint(self.jwk)

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A proof for `method` on `url` (§4.2); `claims` override the defaults, a value of
        None leaves the claim out; `header` members override or (None) remove the header's."""
        payload: dict[str, Any] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": url,
            "iat": int(time.time()),
        }
        if access_token is not None:
            payload["ath"] = ath_of(access_token)
        if nonce is not None:
            payload["nonce"] = nonce
        payload.update(claims)
        payload = {name: value for name, value in payload.items() if value is not None}
        headers: dict[str, Any] = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        return sign(payload, self.private, self.alg, headers)


def sign(payload: dict[str, Any], key: Any, alg: str, headers: dict[str, Any]) -> str:
    """A compact JWS signed with `alg`, its header exactly `{"alg": alg, **headers}`
    (members of value None removed): PyJWT's algorithms, not its header rules."""
    header = {name: value for name, value in {"alg": alg, **headers}.items() if value is not None}
    data = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    algorithm = jwt.get_algorithm_by_name(alg)
    signature = algorithm.sign(data.encode(), algorithm.prepare_key(key))
    return f"{data}.{b64url(signature)}"


def unsigned_proof(key: DPoPKey, method: str, url: str) -> str:
    """`alg: none` (§4.3 step 5, §11.6)."""
    header = {"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk}
    claims = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}."


def hs256_proof(key: DPoPKey, method: str, url: str) -> str:
    """An HMAC (§4.3 step 5: never symmetric), keyed with the public JWK's text."""
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": key.jwk}
    claims = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
    data = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    mac = hmac.new(json.dumps(key.jwk).encode(), data.encode(), hashlib.sha256).digest()
    return f"{data}.{b64url(mac)}"

"""Clients holding private keys, for the private_key_jwt tests (RFC 7523 §2.2, §3): they
sign client assertions with PyJWT and `cryptography` keys, and publish their public keys
as a JWK Set, inline or at a `jwks_uri` served on a real loopback port."""

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from tests.conftest import ISSUER

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


@dataclass(frozen=True)
class KeyHolder:
    """One private key, its `alg`, and its public JWK (with `kid`)."""

    alg: str
    private_key: Any
    kid: str

    @property
    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        exporter = {"RS": RSAAlgorithm, "PS": RSAAlgorithm, "ES": ECAlgorithm}.get(
            self.alg[:2], OKPAlgorithm
        )
        return {**exporter.to_jwk(public, as_dict=True), "kid": self.kid}

    @property
    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}

    def assertion(
        self,
        client_id: str,
        *,
        header: dict[str, Any] | None = None,
        lifetime: int = 60,
        **claims: Any,
    ) -> str:
        """A client assertion (RFC 7523 §3) for `client_id`; a claim given as None is left out."""
        now = int(time.time())
        body = {
            "iss": client_id,
            "sub": client_id,
            "aud": ISSUER,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + lifetime,
            **claims,
        }
        body = {name: value for name, value in body.items() if value is not None}
        headers = {"kid": self.kid, **(header or {})}
        headers = {name: value for name, value in headers.items() if value is not None}
        return jwt.encode(body, self.private_key, algorithm=self.alg, headers=headers)


@cache
def _private_key(kind: str, index: int) -> Any:
    if kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if kind == "EC":
        return ec.generate_private_key(ec.SECP256R1())
    return ed25519.Ed25519PrivateKey.generate()


def key_holder(alg: str = "ES256", kid: str = "k1", index: int = 0) -> KeyHolder:
    """A key for `alg` (RSA keys are made once per run and `index`: they are slow)."""
    kind = {"RS": "RSA", "PS": "RSA", "ES": "EC"}.get(alg[:2], "OKP")
    return KeyHolder(alg, _private_key(kind, index), kid)


def assertion_form(assertion: str, **form: str) -> dict[str, str]:
    return {"client_assertion_type": JWT_BEARER, "client_assertion": assertion, **form}


@dataclass
class JwksServer:
    """A client's `jwks_uri` on 127.0.0.1: serves `jwks` (or `status`), counts fetches."""

    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    status: int = 200
    fetches: int = 0
    port: int = 0

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks"


@contextmanager
def jwks_server() -> Iterator[JwksServer]:
    served = JwksServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.fetches += 1
            body = json.dumps(served.jwks).encode()
            self.send_response(served.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()

"""A small OpenID provider on a real loopback port, for id_tokens a real one never issues.

It serves a discovery document, a JWKS and a token endpoint over HTTP, as a provider
does; the test decides the id_token the token endpoint answers with (signed with keys
it holds here) and sees every request. The token endpoint checks the client's Basic
credentials and PKCE (S256, RFC 7636 §4.6) as a provider must, so the sign-in's code
exchange is exercised for real.
"""

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "downstream"
CLIENT_SECRET = "stub-secret-0123456789"
CODE = "stub-code"
KID = "stub-key-1"


@dataclass
class StubProvider:
    base_url: str
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, {"kid": KID}))
    issuer: str | None = None  # what discovery says; None: base_url
    id_token: str | None = None
    code_challenge: str | None = None
    jwks_padding: int = 0
    paths: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        self.issuer = self.id_token = self.code_challenge = None
        self.jwks_padding = 0
        self.paths.clear()
        self.token_requests.clear()

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None, **header: Any) -> str:
        """An id_token with `claims`, signed by `key` (default: the published one)."""
        signing_key = key or self.key
        return jwt.encode({"alg": "RS256", "kid": signing_key.kid, **header}, claims, signing_key)

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer or self.base_url,
            "authorization_endpoint": f"{self.base_url}/authorize",
            "token_endpoint": f"{self.base_url}/token",
            "jwks_uri": f"{self.base_url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "claims_parameter_supported": True,
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False)], "padding": "x" * self.jwks_padding}

    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append(form)
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if authorization != expected:
            return 401, {"error": "invalid_client"}
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if form.get("code") != CODE or challenge.rstrip(b"=").decode() != self.code_challenge:
            return 400, {"error": "invalid_grant"}
        return 200, {"access_token": "opaque", "token_type": "Bearer", "id_token": self.id_token}


class _Handler(BaseHTTPRequestHandler):
    stub: StubProvider

    def do_GET(self) -> None:
        self.stub.paths.append(self.path)
        documents = {
            "/.well-known/openid-configuration": self.stub.metadata,
            "/jwks": self.stub.jwks,
        }
        document = documents.get(urlsplit(self.path).path)
        self._answer(200, document()) if document else self._answer(404, {})

    def do_POST(self) -> None:
        self.stub.paths.append(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        form = {name: values[0] for name, values in parse_qs(body).items()}
        self._answer(*self.stub.token(form, self.headers.get("Authorization")))

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@contextmanager
def stub_provider() -> Iterator[StubProvider]:
    handler = type("BoundHandler", (_Handler,), {})  # a stub of its own per server
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    stub = handler.stub = StubProvider(f"http://127.0.0.1:{server.server_port}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

"""An issuer in memory, behind httpx.MockTransport: discovery, a JWKS, introspection.

It counts every request by path, can go down, can be slow, and serves the `Cache-Control`
and `ETag` the test asks for, so the verifier's caching is tested without a server.
"""

import asyncio
import json
import threading
import time
from collections import Counter
from typing import Any

import httpx
from joserfc.jwk import RSAKey

from tests.resource.forge import public_jwk

ISSUER = "https://issuer.example.test"
AUDIENCE = "https://orders.example.test"
JWKS_PATH = "/jwks.json"
INTROSPECTION_PATH = "/introspect"


class MockIssuer:
    def __init__(self, *keys: RSAKey, cache_control: str = "public, max-age=300") -> None:
        self.keys = list(keys)
        self.cache_control = cache_control
        self.down = False
        self.delay = 0.0
        self.introspection_answer: dict[str, Any] = {"active": False}
        self.introspection_status = 200
        self.metadata_changes: dict[str, Any] = {}
        self.jwks_response: httpx.Response | None = None
        self.requests: Counter[str] = Counter()
        self.seen: list[httpx.Request] = []
        self._lock = threading.Lock()

    @property
    def jwks_fetches(self) -> int:
        return self.requests[JWKS_PATH]

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle))

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.ahandle))

    def handle(self, request: httpx.Request) -> httpx.Response:
        self._record(request)
        time.sleep(self.delay)
        return self._respond(request)

    async def ahandle(self, request: httpx.Request) -> httpx.Response:
        self._record(request)
        await asyncio.sleep(self.delay)
        return self._respond(request)

    def _record(self, request: httpx.Request) -> None:
        with self._lock:
            self.requests[request.url.path] += 1
            self.seen.append(request)

    def _respond(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("the issuer is down", request=request)
        if request.url.path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.metadata())
        if request.url.path == JWKS_PATH:
            return self._jwks(request)
        if request.url.path == INTROSPECTION_PATH:
            return httpx.Response(self.introspection_status, json=self.introspection_answer)
        return httpx.Response(404)

    def metadata(self) -> dict[str, Any]:
        return {
            "issuer": ISSUER,
            "jwks_uri": f"{ISSUER}{JWKS_PATH}",
            "introspection_endpoint": f"{ISSUER}{INTROSPECTION_PATH}",
            **self.metadata_changes,
        }

    def _jwks(self, request: httpx.Request) -> httpx.Response:
        if self.jwks_response is not None:
            return self.jwks_response
        body = json.dumps({"keys": [public_jwk(key) for key in self.keys]}).encode()
        etag = f'"{hash(body) & 0xFFFFFFFF:x}"'
        headers = {"Cache-Control": self.cache_control, "ETag": etag}
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers=headers)
        return httpx.Response(200, content=body, headers=headers)

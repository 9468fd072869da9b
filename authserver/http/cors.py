"""CORS for the endpoints a single-page app calls from its own origin (Fetch standard).

Discovery, the JWKS, /token, /revoke and /userinfo answer any origin, without
credentials: none of them reads a cookie, so a foreign page gains nothing it could not
send itself (a code needs its PKCE verifier, a refresh token is a bearer secret either
way). The HTML pages and /introspect (server to server) get no CORS headers at all.
"""

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CORS_PATHS = frozenset(
    {
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/token",
        "/revoke",
        "/userinfo",
    }
)
_ALLOW = [
    (b"access-control-allow-origin", b"*"),
    # RFC 9449 §7.1, §8: a page reads DPoP challenges and the next nonce.
    (b"access-control-expose-headers", b"WWW-Authenticate, Retry-After, DPoP-Nonce"),
]
_PREFLIGHT = [
    *_ALLOW,
    (b"access-control-allow-methods", b"GET, POST"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, DPoP"),
    (b"access-control-max-age", b"600"),
    (b"vary", b"Origin"),
]


def cors_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """The CORS headers of an answer on a CORS path, for a request with these headers."""
    return _ALLOW if "origin" in headers else []


class CorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in CORS_PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
            await send({"type": "http.response.start", "status": 204, "headers": _PREFLIGHT})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and b"origin" in headers:
                message["headers"] = [*message.get("headers", []), *_ALLOW]
            await send(message)

        await self.app(scope, receive, send_with_cors)

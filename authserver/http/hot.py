"""The hot endpoints as plain ASGI, in front of FastAPI's routing and middleware.

POST /token, /revoke and /introspect, /userinfo, GET of the JWKS and of discovery are what
clients and resource services call thousands of times a second. FastAPI's stack
(routing, dependencies, exception and CORS middleware) costs more per request than
everything these endpoints do besides the RSA signature, so they are dispatched here
by method and path, straight to the same handlers the FastAPI routes call
(`token_response`, `endpoint_response`, the cached JWKS), with the same CORS headers
(`http.cors`). Every other request, and every other method on these paths (405,
preflight), goes to FastAPI unchanged. The request-context middleware around both
gives every response its X-Request-ID, metrics and access-log line.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver.errors import OAuth2Error
from authserver.http.cors import CORS_PATHS, cors_headers
from authserver.http.forms import receive_oauth_form
from authserver.http.revocation import endpoint_response, introspection_response
from authserver.http.token import token_response
from authserver.http.userinfo import userinfo_response
from authserver.keys.jwks import JwksDocument
from authserver.oauth import FormRequest, error_response, unexpected_error_response
from authserver.services import Services

Handler = Callable[[Scope, Receive, Headers], Awaitable[Response]]

JWKS_PATH = "/.well-known/jwks.json"
METADATA_PATHS = ("/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")


@dataclass(frozen=True)
class HotRoute:
    """What `scope["route"]` holds for a hot request (the metrics read `path`)."""

    path: str


class HotPaths:
    def __init__(self, app: ASGIApp, services: Services, metadata: bytes) -> None:
        self.app = app
        self._services = services
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/token"): self._token,
            ("POST", "/revoke"): self._revoke,
            ("POST", "/introspect"): self._introspect,
            ("GET", "/userinfo"): self._userinfo,
            ("POST", "/userinfo"): self._userinfo,
        }
        self._documents = frozenset({JWKS_PATH, *METADATA_PATHS})
        self._route_of = {path: HotRoute(path) for path in {*self._documents, *self._paths()}}
        self._jwks_answers: tuple[str, PrebuiltAnswers] | None = None
        self._metadata_answers = PrebuiltAnswers(
            metadata, b"application/json", [(b"cache-control", b"public, max-age=3600")], None
        )

    def document(self, scope: Scope) -> tuple[Message, Message] | None:
        """For a GET of the JWKS or of discovery, its two prebuilt ASGI messages (the
        request-context middleware sends them, adding only X-Request-ID); else None."""
        path = scope["path"]
        if scope["method"] != "GET" or path not in self._documents:
            return None
        scope["route"] = self._route_of[path]
        answers = self._jwks_prebuilt() if path == JWKS_PATH else self._metadata_answers
        if_none_match, cors = None, False
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"origin":
                cors = True
        return answers.select(if_none_match, cors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if (document := self.document(scope)) is not None:
            await send(document[0])
            await send(document[1])
            return
        handler = self._routes.get((method, path))
        if handler is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self._route_of[path]
        headers = Headers(scope=scope)
        try:
            response = await handler(scope, receive, headers)
        except OAuth2Error as error:
            response = error_response(error)
        except Exception as error:  # noqa: BLE001 - a fixed 500, or 503 when storage is down
            response = unexpected_error_response(path, error)
        if path in CORS_PATHS:
            response.raw_headers.extend(cors_headers(headers))
        await response(scope, receive, send)

    async def _userinfo(self, scope: Scope, receive: Receive, headers: Headers) -> Response:
        return await userinfo_response(self._services, headers, scope["method"])

    def _paths(self) -> set[str]:
        return {path for _, path in self._routes}

    def _jwks_prebuilt(self) -> "PrebuiltAnswers":
        document = self._services.keyring.jwks
        cached = self._jwks_answers
        if cached is not None and cached[0] == document.etag:
            return cached[1]
        max_age = int(self._services.settings.jwks_max_age.total_seconds())
        answers = PrebuiltAnswers(
            document.body,
            b"application/jwk-set+json",
            [(b"cache-control", f"public, max-age={max_age}".encode("ascii"))],
            document,
        )
        self._jwks_answers = (document.etag, answers)
        return answers

    async def _form(self, scope: Scope, receive: Receive, headers: Headers) -> FormRequest:
        pairs = await receive_oauth_form(
            headers.get("content-type"), headers.get("content-length"), receive
        )
        uri = self._services.settings.issuer + scope["path"]
        return FormRequest("POST", uri, headers, pairs)  # type: ignore[arg-type]

    async def _token(self, scope: Scope, receive: Receive, headers: Headers) -> Response:
        return await token_response(self._services, await self._form(scope, receive, headers))

    async def _revoke(self, scope: Scope, receive: Receive, headers: Headers) -> Response:
        request = await self._form(scope, receive, headers)
        return await endpoint_response(self._services, "revocation", request)

    async def _introspect(self, scope: Scope, receive: Receive, headers: Headers) -> Response:
        request = await self._form(scope, receive, headers)
        return await introspection_response(self._services, request)


class PrebuiltAnswers:
    """A document's 200 (with and without CORS headers) and, with an entity tag, its 304;
    each an ASGI start message and a body message, built once."""

    def __init__(
        self,
        body: bytes,
        media_type: bytes,
        headers: list[tuple[bytes, bytes]],
        tagged: JwksDocument | None,
    ) -> None:
        self._tagged = tagged
        common = [*headers]
        if tagged is not None:
            common.append((b"etag", tagged.etag.encode("ascii")))
        full = [
            *common,
            (b"content-type", media_type),
            (b"content-length", str(len(body)).encode("ascii")),
        ]
        not_modified = common  # RFC 9110 §15.4.5: no body, no Content-Length of one
        cors = cors_headers({"origin": ""})
        self._starts = {
            (200, False): _start(200, full),
            (200, True): _start(200, [*full, *cors]),
            (304, False): _start(304, not_modified),
            (304, True): _start(304, [*not_modified, *cors]),
        }
        self._bodies = {200: _body(body), 304: _body(b"")}

    def select(self, if_none_match: str | None, cors: bool) -> tuple[Message, Message]:
        fresh = self._tagged is not None and self._tagged.matches(if_none_match)
        status = 304 if fresh else 200
        # Fresh dicts: servers and middleware may add to a message's headers.
        start = self._starts[(status, cors)]
        return {**start, "headers": list(start["headers"])}, self._bodies[status]


def _start(status: int, headers: list[tuple[bytes, bytes]]) -> Message:
    return {"type": "http.response.start", "status": status, "headers": headers}


def _body(content: bytes) -> Message:
    return {"type": "http.response.body", "body": content}


def jwks_response(services: Services, if_none_match: str | None) -> Response:
    """The JWKS, or 304 when the client holds the current entity tag (RFC 9110 §13.1.2)."""
    document = services.keyring.jwks
    max_age = int(services.settings.jwks_max_age.total_seconds())
    headers = {"Cache-Control": f"public, max-age={max_age}", "ETag": document.etag}
    if document.matches(if_none_match):
        return Response(status_code=304, headers=headers)
    return Response(document.body, media_type="application/jwk-set+json", headers=headers)


def metadata_response(metadata: bytes) -> Response:
    return Response(
        metadata, media_type="application/json", headers={"Cache-Control": "public, max-age=3600"}
    )

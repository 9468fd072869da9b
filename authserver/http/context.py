"""Every HTTP request passes here first: proxy headers, a request id, metrics, the access log.

- Forwarding headers are applied or dropped (`TrustedProxies`).
- The request gets an id, returned as `X-Request-ID` and carried by every log line and
  audit event of the request; a trusted proxy's well-formed X-Request-ID is kept.
- With an https issuer, every response carries `Strict-Transport-Security` (RFC 6797).
- Its endpoint, status and duration go to the metrics, and one line to the access log:
  method, path, the query's parameter names with every value redacted (an id_token_hint,
  a login_hint, a code never reach the log: `logs.redacted_query`), status, duration,
  client address.
"""

import logging
import re
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authserver.context import RequestContext, enter_context, leave_context, new_request_id
from authserver.http.proxies import TrustedProxies
from authserver.logs import redacted_query

RequestObserver = Callable[[str, str, int, float], None]
DocumentLookup = Callable[[Scope], tuple[Message, Message] | None]

access_log = logging.getLogger("authserver.access")

_REQUEST_ID = b"x-request-id"
_VALID_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # a decoded %0A must not start a forged log line
# RFC 6797 §6.1.1: a year, the same as the nginx site in deploy/. No includeSubDomains
# (§6.1.2): the issuer's host may be a domain whose other subdomains are not ours to bind,
# and our cookies carry the __Host- prefix, which no subdomain can set (docs/deployment.md).
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=31536000")


class RequestContextMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        proxies: TrustedProxies,
        log_requests: bool,
        observe: RequestObserver | None = None,
        documents: DocumentLookup | None = None,
        https_issuer: bool = False,
    ) -> None:
        self.app = app
        self._proxies = proxies
        self._log_requests = log_requests
        self._observe = observe
        self._documents = documents
        # RFC 6797 §7.1: every response over secure transport. The issuer is how clients
        # reach us: behind a TLS proxy this process sees plain HTTP, and a browser ignores
        # the header on a plain-HTTP response anyway (§8.1).
        self._security_headers = [STRICT_TRANSPORT_SECURITY] if https_issuer else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        from_proxy = self._proxies.trusts_peer(scope)
        self._proxies.apply(scope)
        request_id = _forwarded_request_id(scope) if from_proxy else None
        request_id = request_id or new_request_id()
        added = [(_REQUEST_ID, request_id.encode("ascii")), *self._security_headers]
        if self._documents is not None and (document := self._documents(scope)) is not None:
            # The JWKS and discovery, from memory: no context to enter, nothing to wrap.
            start, body = document
            start["headers"].extend(added)
            await send(start)
            await send(body)
            self._finish(scope, start["status"], time.perf_counter() - started, request_id)
            return
        client = scope.get("client")
        token = enter_context(RequestContext(request_id, client[0] if client else None))
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), *added]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._finish(scope, status, time.perf_counter() - started, request_id)
            leave_context(token)

    def _finish(self, scope: Scope, status: int, seconds: float, request_id: str) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "other"
        if self._observe is not None:
            self._observe(endpoint, scope["method"], status, seconds)
        if self._log_requests:
            client = scope.get("client")
            fields = {
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "client": client[0] if client else None,
            }
            if query := scope.get("query_string"):
                fields["query"] = redacted_query(query)
            path = _CONTROL.sub("?", scope["path"])
            access_log.info("%s %s %d", scope["method"], path, status, extra={"fields": fields})


def _forwarded_request_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == _REQUEST_ID and _VALID_REQUEST_ID.match(value):
            return value.decode("ascii")
    return None

"""Requests to an upstream provider (CONTRACT.md, "Outbound requests"): its discovery
document, its JWKS and its token endpoint.

All go through `OutboundTransport`, which refuses a non-public address unless
AUTHSERVER_OUTBOUND_ALLOW_PRIVATE (`backchannel.outbound`), and reads at most 256 KiB of
an answer, uncompressed (it asks for `identity` and refuses any other encoding, so the
limit bounds what is decoded too). The clients follow no redirect, time out after 5 s
and read no proxy settings from the environment: a proxy would bypass the transport.
"""

import json
from typing import Any

# The httpx Authlib's client is built on: httpx2 where installed, else httpx
# (authlib/integrations/httpx_client/_compat.py); the transport must be of its kind.
try:
    import httpx2 as http
except ImportError:  # pragma: no cover - depends on what is installed
    import httpx as http  # type: ignore[no-redef]

from authserver.backchannel.outbound import outbound_refusal
from authserver.upstream.errors import UpstreamError

TIMEOUT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 256 * 1024
HTTPError = http.HTTPError


class OutboundTransport(http.BaseTransport):
    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = http.HTTPTransport()

    def handle_request(self, request: http.Request) -> http.Response:
        if refusal := outbound_refusal(str(request.url), self._allow_private):
            raise UpstreamError(f"refused to send a request to {request.url}: {refusal}")
        response = self._inner.handle_request(request)
        try:
            body = _bounded_body(response, str(request.url))
        finally:
            response.close()
        return http.Response(
            response.status_code, headers=response.headers, content=body, request=request
        )

    def close(self) -> None:
        self._inner.close()


def client_options(allow_private: bool) -> dict[str, Any]:
    """What every client of an upstream request is made with (Authlib's included)."""
    return {
        "transport": OutboundTransport(allow_private),
        "timeout": TIMEOUT_SECONDS,
        "follow_redirects": False,
        "trust_env": False,
        "headers": {"Accept-Encoding": "identity"},
    }


def get_json(client: http.Client, url: str) -> dict[str, Any]:
    """The JSON object at `url`, from a 200 answer."""
    try:
        response = client.get(url, headers={"Accept": "application/json"})
    except http.HTTPError as error:
        raise UpstreamError(f"{url}: {type(error).__name__}") from None
    if response.status_code != 200:
        raise UpstreamError(f"{url} answered {response.status_code}")
    try:
        value = json.loads(response.content)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise UpstreamError(f"{url} did not answer JSON") from None
    if not isinstance(value, dict):
        raise UpstreamError(f"{url} did not answer a JSON object")
    return value


def _bounded_body(response: http.Response, url: str) -> bytes:
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise UpstreamError(f"{url} answered with content-encoding {encoding[:20]!r}")
    body = bytearray()
    for chunk in response.stream:  # type: ignore[union-attr]
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise UpstreamError(f"{url} answered more than {MAX_RESPONSE_BYTES} bytes")
    return bytes(body)

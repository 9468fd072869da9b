"""Bounded HTTP exchanges with the issuer: no redirects, a timeout, at most 512 KiB read
(a status list may ask for more: `limit`).

The same request in a sync and an async form; both return a `Document` whose body was read
in full (or refused past the limit), so the parsing after it is shared.
"""

import json
from dataclasses import dataclass
from typing import Any

import httpx

MAX_DOCUMENT_BYTES = 512 * 1024
DEFAULT_TIMEOUT = httpx.Timeout(5.0)


class FetchError(Exception):
    """A document could not be fetched, or was not what the issuer should have sent.

    The message is for logs: it names the URL and what went wrong, never a token.
    `status` is the HTTP status when the issuer answered at all.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Document:
    url: str
    status: int
    headers: httpx.Headers
    body: bytes

    def json_object(self) -> dict[str, Any]:
        if self.status != 200:
            raise FetchError(f"{self.url} answered {self.status}", status=self.status)
        try:
            value = json.loads(self.body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise FetchError(f"{self.url} did not answer JSON") from None
        if not isinstance(value, dict):
            raise FetchError(f"{self.url} did not answer a JSON object")
        return value


def request(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    limit: int = MAX_DOCUMENT_BYTES,
    **options: Any,
) -> Document:
    try:
        with client.stream(method, url, follow_redirects=False, **options) as response:
            body = bytearray()
            for chunk in response.iter_bytes():
                _append(body, chunk, url, limit)
            return Document(url, response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as error:
        raise FetchError(f"{url}: {type(error).__name__}") from None


async def arequest(client: httpx.AsyncClient, method: str, url: str, **options: Any) -> Document:
    try:
        async with client.stream(method, url, follow_redirects=False, **options) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                _append(body, chunk, url, MAX_DOCUMENT_BYTES)
            return Document(url, response.status_code, response.headers, bytes(body))
    except httpx.HTTPError as error:
        raise FetchError(f"{url}: {type(error).__name__}") from None


def _append(body: bytearray, chunk: bytes, url: str, limit: int) -> None:
    body += chunk
    if len(body) > limit:
        raise FetchError(f"{url} answered more than {limit} bytes")

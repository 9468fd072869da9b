"""uvicorn's HTTP protocol, writing a response's head and its first body part at once.

uvicorn's httptools protocol writes the status line and headers to the socket as soon as
the app sends `http.response.start`, then the body in a second write: two system calls
and two TCP segments for every answer, and the client woken twice. Nearly all our
answers are one small body, so the head is held back and goes out with the first body
part (with nothing else for a HEAD request, a 304 or an empty body). A streamed answer
still goes out part by part: only the head waits, never a body part.

`authserver serve` gives uvicorn this protocol (`http=OneWriteHttpToolsProtocol`); the
tests of `tests/http/test_one_write.py` hold it to uvicorn's own answers.
"""

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _Held:
    """Stands in for the transport while uvicorn's `send` runs: keeps what it writes."""

    __slots__ = ("closed", "parts")

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.closed = True


class OneWriteCycle(RequestResponseCycle):
    """A request's cycle whose head waits for the first body part."""

    _head: bytes | None = None

    async def send(self, message: Any) -> None:
        transport = self.transport
        held = _Held()
        self.transport = held  # type: ignore[assignment]
        try:
            await super().send(message)
        finally:
            self.transport = transport
        if message["type"] == "http.response.start" and self._head is None:
            self._head = b"".join(held.parts)
            return
        head, self._head = self._head, None
        data = b"".join(held.parts) if head is None else head + b"".join(held.parts)
        if data:
            transport.write(data)
        if held.closed:
            transport.close()


class OneWriteHttpToolsProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        # The cycle was just made; its task has not run yet, so its `send` is ours.
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = OneWriteCycle

"""`OneWriteHttpToolsProtocol`: uvicorn's answers, byte for byte, in fewer writes.

Each case serves one ASGI app over a real loopback socket twice, under uvicorn's own
httptools protocol and under ours, and compares what the client received; the server's
transport is wrapped to count the writes it is asked for (the bytes still go through
it). RFC 9112 §6 (message body): the head and the body are one message, so nothing
but the number of writes may differ.
"""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from authserver.cli.serve import uvicorn_options
from authserver.http.one_write import OneWriteHttpToolsProtocol

App = Callable[[Any, Any, Any], Awaitable[None]]
JSON = b'{"keys":[]}'


class CountingTransport:
    """The real transport, with the writes asked of it counted."""

    def __init__(self, real: asyncio.Transport) -> None:
        self._real = real
        self.writes: list[bytes] = []
        self.closed_after_writes: int | None = None

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self._real.write(data)

    def close(self) -> None:
        self.closed_after_writes = len(self.writes)
        self._real.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def counted(protocol_class: type[HttpToolsProtocol], config: uvicorn.Config, state: ServerState):
    transports: list[CountingTransport] = []

    class Counted(protocol_class):  # type: ignore[valid-type, misc]
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            wrapped = CountingTransport(transport)
            transports.append(wrapped)
            super().connection_made(wrapped)  # type: ignore[arg-type]

    return (lambda: Counted(config=config, server_state=state, app_state={})), transports


async def exchange(
    protocol_class: type[HttpToolsProtocol], app: App, request: bytes, *, until_closed: bool = False
) -> tuple[bytes, CountingTransport]:
    """Send `request` (one or more pipelined requests); what came back, and the transport."""
    config = uvicorn.Config(app, http=protocol_class, lifespan="off", log_level="warning")
    config.load()
    factory, transports = counted(protocol_class, config, ServerState())
    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request)
        await writer.drain()
        received = b""
        expected = request.count(b"HTTP/1.1\r\n")
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.15)
            except TimeoutError:
                if not until_closed and received.count(b"HTTP/1.1 ") >= expected:
                    break
                raise
            if not chunk:
                break
            received += chunk
        writer.close()
        return received, transports[0]
    finally:
        server.close()


def answer(status: int, body: bytes, *, length: bool = True) -> App:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        headers = [(b"content-type", b"application/json")]
        if length:
            headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


GET = b"GET /jwks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "app", "their_writes"),
    [
        pytest.param(GET, answer(200, JSON), 2, id="small JSON"),
        # uvicorn writes no body for HEAD: one write already.
        pytest.param(b"HEAD /jwks HTTP/1.1\r\nHost: x\r\n\r\n", answer(200, JSON), 1, id="HEAD"),
        pytest.param(GET, answer(304, b"", length=False), 2, id="304 without a body"),
        pytest.param(GET, answer(200, JSON, length=False), 2, id="chunked"),
        pytest.param(GET, answer(200, b"x" * 300_000), 2, id="a large body"),
    ],
)
def test_one_answer_is_one_write_of_the_same_bytes(
    request_bytes: bytes, app: App, their_writes: int
) -> None:
    theirs, their_transport = run(exchange(HttpToolsProtocol, app, request_bytes))
    ours, our_transport = run(exchange(OneWriteHttpToolsProtocol, app, request_bytes))

    assert len(their_transport.writes) == their_writes  # two: what this protocol is for
    assert len(our_transport.writes) == 1
    assert _without_date(ours) == _without_date(theirs)
    assert our_transport.writes[0] == ours


def test_pipelined_requests_get_one_write_each() -> None:
    """RFC 9112 §9.3.2: answers to pipelined requests in order."""
    request = GET * 3
    theirs, _ = run(exchange(HttpToolsProtocol, answer(200, JSON), request))
    ours, transport = run(exchange(OneWriteHttpToolsProtocol, answer(200, JSON), request))

    assert _without_date(ours) == _without_date(theirs)
    assert ours.count(b"HTTP/1.1 200 OK") == 3
    assert len(transport.writes) == 3


def test_connection_close_closes_after_the_write() -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    theirs, _ = run(exchange(HttpToolsProtocol, answer(200, JSON), request, until_closed=True))
    ours, transport = run(
        exchange(OneWriteHttpToolsProtocol, answer(200, JSON), request, until_closed=True)
    )

    assert _without_date(ours) == _without_date(theirs)
    assert ours.endswith(JSON)
    assert transport.closed_after_writes == 1


def test_a_streamed_answer_is_not_held_back() -> None:
    """Only the head waits: each body part goes out when sent, before the next is made."""
    transports, seen = run(_streamed())
    assert seen == [1]  # the head and the first part, before the second part was made
    assert len(transports[0].writes) == 2
    assert transports[0].writes[0].startswith(b"HTTP/1.1 200")
    assert transports[0].writes[0].endswith(b"first\r\n")
    assert b"second" in transports[0].writes[1]


async def _streamed() -> tuple[list[CountingTransport], list[int]]:
    sent_first = asyncio.Event()
    go_on = asyncio.Event()
    seen: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        sent_first.set()
        await go_on.wait()
        await send({"type": "http.response.body", "body": b"second"})

    async def watch(transport_list: list[CountingTransport]) -> None:
        await sent_first.wait()
        seen.append(len(transport_list[0].writes))
        go_on.set()

    config = uvicorn.Config(app, http=OneWriteHttpToolsProtocol, lifespan="off")
    config.load()
    factory, transports = counted(OneWriteHttpToolsProtocol, config, ServerState())
    server = await asyncio.get_running_loop().create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        watcher = asyncio.create_task(watch(transports))
        writer.write(GET)
        received = b""
        while not received.endswith(b"0\r\n\r\n"):
            received += await asyncio.wait_for(reader.read(65536), 2)
        await watcher
        writer.close()
    finally:
        server.close()
    return transports, seen


def test_serve_gives_uvicorn_this_protocol() -> None:
    options = uvicorn_options(host="127.0.0.1", port=8000, log_format="json")
    assert options["http"] is OneWriteHttpToolsProtocol


def run(coroutine: Awaitable[Any]) -> Any:
    """On uvloop, as `authserver serve` runs."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)  # type: ignore[arg-type]


def _without_date(response: bytes) -> bytes:
    return b"\r\n".join(
        line for line in response.split(b"\r\n") if not line.lower().startswith(b"date:")
    )

"""A client's back-channel logout endpoint for the tests: records every Logout Token POSTed
to it, answers with the status the test sets (503: "down"), optionally slowly."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs


class Receiver:
    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.refused = 0
        self.status = 200
        self.delay = 0.0
        self.lock = threading.Lock()
        self.url = ""

    def received(self) -> list[str]:
        with self.lock:
            return list(self.tokens)

    def wait_for(self, count: int, timeout: float = 15) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            tokens = self.received()
            if len(tokens) >= count:
                return tokens
            time.sleep(0.05)
        raise AssertionError(f"{len(self.received())} Logout Tokens arrived, not {count}")


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            form = parse_qs(self.rfile.read(length).decode())
            time.sleep(receiver.delay)
            status = receiver.status
            with receiver.lock:
                if status == 200 and "logout_token" in form:
                    receiver.tokens.append(form["logout_token"][0])
                else:
                    receiver.refused += 1
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/backchannel-logout"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()

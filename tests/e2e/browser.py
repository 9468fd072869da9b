"""A real browser for end-to-end tests: Debian's chromium under Playwright, a loopback app."""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    Request,
    ViewportSize,
    sync_playwright,
)

CHROMIUM = Path("/usr/bin/chromium")


class ChromiumUnavailableError(RuntimeError):
    """Why no headless chromium starts on this machine; browser tests skip with it."""


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """The system's chromium; never `playwright install` nor a downloaded browser build."""
    if not CHROMIUM.exists():
        raise ChromiumUnavailableError(f"{CHROMIUM} is missing: apt-get install chromium")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, timeout=30_000
            )
        except Error as error:
            reason = error.message.splitlines()[0] if error.message else type(error).__name__
            raise ChromiumUnavailableError(
                f"Playwright cannot start {CHROMIUM}: {reason}"
            ) from None
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def fresh_page(browser: Browser, viewport: ViewportSize, step_timeout_ms: int) -> Iterator[Page]:
    """A page in a context of its own (its own cookies), every step bounded."""
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(step_timeout_ms)
    context.set_default_navigation_timeout(step_timeout_ms)
    try:
        yield context.new_page()
    finally:
        context.close()


class Navigations:
    """Every URL a browser context navigated to, redirect hops included, in order."""

    def __init__(self, context: BrowserContext) -> None:
        self.urls: list[str] = []
        context.on("request", self._record)

    def _record(self, request: Request) -> None:
        if request.is_navigation_request():
            self.urls.append(request.url)


class _LoopbackApp(BaseHTTPRequestHandler):
    """Where an app's redirect URIs lead: a page that says so, whatever the path."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>app</title><h1>Back at the app</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test output quiet."""


@contextmanager
def loopback_app() -> Iterator[str]:
    """An HTTP server on a free 127.0.0.1 port (RFC 8252 §7.3); yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LoopbackApp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

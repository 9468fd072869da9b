"""The application factory: wiring only."""

import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from authserver import __version__
from authserver.db import STORAGE_OUTAGES, Database, is_storage_outage
from authserver.discovery import server_metadata
from authserver.errors import InvalidRequestError, OAuth2Error, ServerError
from authserver.http import (
    account,
    account_totp,
    assets,
    authorize,
    device,
    health,
    login,
    logout,
    metrics,
    openapi,
    par,
    passkeys,
    registration,
    revocation,
    second_factor,
    statuslists,
    token,
    upstream,
    userinfo,
    wellknown,
)
from authserver.http.context import RequestContextMiddleware
from authserver.http.cors import CorsMiddleware
from authserver.http.hot import HotPaths
from authserver.http.pages import error_page, is_page_path
from authserver.http.proxies import TrustedProxies
from authserver.logs import configure_logging
from authserver.metrics import observe_request
from authserver.networks import parse_networks
from authserver.oauth import error_response, json_response, unexpected_error_response
from authserver.schema import ensure_schema_is_current
from authserver.services import build_services
from authserver.settings import Settings, load_settings
from authserver.upstream.configuration import configure_from_settings

log = logging.getLogger(__name__)

# Allocations between two young-generation collections (CPython's default is 700): a
# request allocates a few hundred objects, nearly all freed by reference counting.
GC_YOUNG_THRESHOLD = 10_000


def create_app(settings: Settings, *, serving: bool = False) -> FastAPI:
    """Check the settings and the schema, load the keys, and mount every route.

    `serving`: this process exists to serve the app (`authserver serve`), so its garbage
    collector may be tuned for it once started; an app embedded in a larger program, or
    made by the tests, leaves the collector alone."""
    settings.ensure_production_ready()
    database = Database(settings.database_url, settings.database_pool_size)
    ensure_schema_is_current(database)
    services = build_services(settings, database)
    configure_from_settings(settings, database, services.sealer)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # As many threads as pooled connections: a request then never waits for one in
        # the pool (unfairly), only, in order, for a thread (anyio's limiter is fair).
        to_thread.current_default_thread_limiter().total_tokens = settings.database_pool_size
        services.keyring.start()
        services.rotation.start()
        services.oauth.audit.start()
        services.outbox.start()
        if services.async_db is not None:
            services.async_db.open()
        if (sqlite_reads := services.sqlite_loop_reads) is not None:
            sqlite_reads.open()
        if serving:
            settle_garbage_collector()
        yield
        if services.async_db is not None:
            await services.async_db.close()
        if (sqlite_reads := services.sqlite_loop_reads) is not None:
            await sqlite_reads.close()
        services.outbox.stop()
        services.rotation.stop()
        services.keyring.stop()
        services.oauth.audit.close()
        database.dispose()

    app = AuthServerApp(
        settings,
        title="authserver",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.services = services
    app.state.metadata = json.dumps(server_metadata(settings)).encode("utf-8")
    for module in (
        wellknown,
        token,
        revocation,
        par,
        authorize,
        login,
        logout,
        userinfo,
        assets,
        health,
        metrics,
        openapi,
        statuslists,
        device,
        registration,
        second_factor,
        account,
        account_totp,
        upstream,
        passkeys,
    ):
        app.include_router(module.router)
    app.add_middleware(CorsMiddleware)
    _install_error_handlers(app)
    return app


class AuthServerApp(FastAPI):
    """FastAPI with the request-context middleware outside everything else, so that even
    the 500 answer of an unexpected error carries X-Request-ID and is counted."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(**options)
        self._proxies = TrustedProxies(parse_networks(",".join(settings.trusted_proxies)))
        self._log_requests = settings.log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP requests go straight to the middleware stack: FastAPI's own `__call__`
        handles `root_path` (we set none) and its native telemetry, whose per-request
        check for OpenTelemetry providers cost more than serving a JWKS."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["app"] = self
        if self.middleware_stack is None:
            self.middleware_stack = self.build_middleware_stack()
        await self.middleware_stack(scope, receive, send)

    def build_middleware_stack(self) -> ASGIApp:
        hot = HotPaths(super().build_middleware_stack(), self.state.services, self.state.metadata)
        return RequestContextMiddleware(
            hot,
            proxies=self._proxies,
            log_requests=self._log_requests,
            observe=observe_request,
            documents=hot.document,
            https_issuer=self.state.services.settings.issuer_is_https,
        )


def settle_garbage_collector() -> None:
    """Once everything is loaded: move what start-up made (modules, the app, keys) out of
    the collector's sight (`gc.freeze`), and collect the youngest generation less often.
    A full collection then walks only what requests made: shorter pauses, a lower p99."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, oldest)


def create_app_from_environment() -> FastAPI:
    """For `uvicorn --factory` and `authserver serve --workers N`."""
    settings = load_settings()
    configure_logging(settings.effective_log_format)
    return create_app(settings, serving=True)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OAuth2Error)
    async def oauth_error(_: Request, error: OAuth2Error) -> Response:
        return error_response(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, __: RequestValidationError) -> Response:
        # Never a 422 that echoes the input.
        return error_response(InvalidRequestError("The request is malformed."))

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, error: HTTPException) -> Response:
        body = {"error": "not_found" if error.status_code == 404 else "invalid_request"}
        return json_response(error.status_code, body, (error.headers or {}).items())

    async def storage_outage(request: Request, error: Exception) -> Response:
        # Handled here, below Starlette's error middleware, which would log a traceback
        # (twice, with uvicorn's) for what is one line's news: the database is away.
        if is_page_path(request.url.path):
            log.error("%s: database unavailable: %s", request.url.path, type(error).__name__)
            page = error_page("Temporarily unavailable", "Please try again in a moment.", 503)
            page.headers["Retry-After"] = "1"
            return page
        return unexpected_error_response(request.url.path, error)

    for outage in STORAGE_OUTAGES:
        app.add_exception_handler(outage, storage_outage)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        log.error("unhandled error on %s", request.url.path, exc_info=error)
        if is_page_path(request.url.path):
            if is_storage_outage(error):
                page = error_page("Temporarily unavailable", "Please try again in a moment.", 503)
                page.headers["Retry-After"] = "1"
                return page
            return error_page("Something went wrong", "Please try again in a moment.", 500)
        return error_response(ServerError())

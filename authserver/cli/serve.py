"""`authserver serve`: the HTTP API under uvicorn."""

import os
from typing import Annotated

import typer
import uvicorn

from authserver.app import create_app
from authserver.http.one_write import OneWriteHttpToolsProtocol
from authserver.logs import LogFormat, configure_logging, logging_config
from authserver.metrics import metrics_directory
from authserver.settings import load_settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[
        bool | None,
        typer.Option(help="Log every request (default: AUTHSERVER_LOG_REQUESTS, true)."),
    ] = None,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="The same as AUTHSERVER_TRUSTED_PROXIES: the reverse proxies (addresses or "
            "CIDRs, comma-separated) whose X-Forwarded-For/-Proto/-Host are believed."
        ),
    ] = None,
) -> None:
    """Serve the API. Checks settings, schema and keys first (creating keys once if none)."""
    # Workers build their apps from the environment: the options travel through it.
    if access_log is not None:
        os.environ["AUTHSERVER_LOG_REQUESTS"] = "true" if access_log else "false"
    if forwarded_allow_ips is not None:
        os.environ["AUTHSERVER_TRUSTED_PROXIES"] = forwarded_allow_ips
    settings = load_settings()
    configure_logging(settings.effective_log_format)
    # Before any metric exists and any worker is spawned: they share one directory.
    with metrics_directory(workers):
        app = create_app(settings, serving=workers == 1)
        options = uvicorn_options(host=host, port=port, log_format=settings.effective_log_format)
        if workers == 1:
            uvicorn.run(app, **options)  # type: ignore[arg-type]
            return
        # Each worker builds its own app from the same environment; the checks above passed.
        uvicorn.run(
            "authserver.app:create_app_from_environment", factory=True, workers=workers, **options
        )  # type: ignore[arg-type]


def uvicorn_options(*, host: str, port: int, log_format: LogFormat) -> dict[str, object]:
    return {
        "host": host,
        "port": port,
        # httptools, with a response's head and first body part in one write.
        "http": OneWriteHttpToolsProtocol,
        # Requests are logged by our middleware (with their request id), and forwarding
        # headers are handled there too (AUTHSERVER_TRUSTED_PROXIES), not by uvicorn.
        "access_log": False,
        "proxy_headers": False,
        # No "server: uvicorn" on every answer: it tells an attacker what runs here.
        "server_header": False,
        "log_config": logging_config(log_format),
    }

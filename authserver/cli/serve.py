"""`authserver serve`: the HTTP API under uvicorn."""

from typing import Annotated

import typer
import uvicorn

from authserver.app import configure_logging, create_app
from authserver.settings import load_settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="Behind a reverse proxy: the proxy addresses (comma-separated) whose "
            "X-Forwarded-For gives the client address (used by the sign-in throttle)."
        ),
    ] = None,
) -> None:
    """Serve the API. Checks settings, schema and keys first (creating keys once if none)."""
    configure_logging()
    app = create_app(load_settings())
    proxy = {
        "proxy_headers": forwarded_allow_ips is not None,
        "forwarded_allow_ips": forwarded_allow_ips,
    }
    if workers == 1:
        uvicorn.run(app, host=host, port=port, access_log=access_log, **proxy)  # type: ignore[arg-type]
        return
    # Each worker builds its own app from the same environment; the checks above passed.
    uvicorn.run(
        "authserver.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        **proxy,  # type: ignore[arg-type]
    )

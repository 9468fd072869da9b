"""`authserver serve`: the HTTP API under uvicorn."""

from typing import Annotated

import typer
import uvicorn

from authserver.app import create_app
from authserver.settings import load_settings


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = True,
) -> None:
    """Serve the API. Checks settings, schema and keys first (creating keys once if none)."""
    app = create_app(load_settings())
    if workers == 1:
        uvicorn.run(app, host=host, port=port, access_log=access_log, proxy_headers=False)
        return
    # Each worker builds its own app from the same environment; the checks above passed.
    uvicorn.run(
        "authserver.app:create_app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        proxy_headers=False,
    )

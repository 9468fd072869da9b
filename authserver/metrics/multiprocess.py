"""The directory where the workers of `authserver serve --workers N` share their metrics.

prometheus_client's multiprocess mode: each process writes its values to files in
PROMETHEUS_MULTIPROC_DIR, and a scrape, whichever worker answers it, sums them all. A
process chooses the mode when it imports prometheus_client, so the variable is set
before the workers are spawned, and the directory must start empty (no stale `*.db`).
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from authserver.errors import ConfigurationError

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def shared_metrics_directory() -> Path | None:
    """The directory of multiprocess mode, if this process runs in it."""
    value = os.environ.get(MULTIPROC_DIR)
    return Path(value) if value else None


@contextmanager
def metrics_directory(workers: int) -> Iterator[Path | None]:
    """Set up multiprocess mode for the life of a server, if it needs it.

    - PROMETHEUS_MULTIPROC_DIR set by the operator: used (created if missing), after the
      `*.db` files of an earlier run are removed; other files are left alone.
    - Else, more than one worker: a private temporary directory (mode 0700) in the
      environment until the server stops, then removed.
    - Else None: one process, the ordinary in-process metrics.
    """
    chosen = shared_metrics_directory()
    if chosen is not None:
        _empty(chosen)
        yield chosen
    elif workers > 1:
        private = Path(tempfile.mkdtemp(prefix="authserver-metrics-"))
        os.environ[MULTIPROC_DIR] = str(private)
        try:
            yield private
        finally:
            os.environ.pop(MULTIPROC_DIR, None)
            shutil.rmtree(private, ignore_errors=True)
    else:
        yield None


def _empty(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
    except OSError as error:
        raise ConfigurationError(
            f"{MULTIPROC_DIR} {directory} is not a usable directory: {error.strerror}"
        ) from error

"""PostgreSQL for the drills: a throwaway database on the machine's server, or a private
cluster that the outage drill may stop and start.

The machine's PostgreSQL (DRILLS_POSTGRES_URL, by default the one at 127.0.0.1:5432) is
shared with other work: the drills only create a database there (authserver_drill_<hex>)
and drop it afterwards. The outage drill never stops it: it runs `initdb` into a
temporary directory and `pg_ctl` on a free loopback port, and removes the directory at
the end. PostgreSQL's binaries refuse to run as root, so as root they run as the
`postgres` user (`runuser`), in a directory that user owns.
"""

import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from servers import free_port
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ADMIN_URL = os.environ.get(
    "DRILLS_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
_NAME = re.compile(r"^authserver_drill_[0-9a-f]{12}$")
_BINARIES = Path("/usr/lib/postgresql")


def unreachable(admin_url: str = ADMIN_URL) -> str | None:
    """Why no PostgreSQL answers at `admin_url`, or None when one does."""
    engine = create_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means none to use
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return f"no PostgreSQL answers at DRILLS_POSTGRES_URL: {first}"
    finally:
        engine.dispose()
    return None


@contextmanager
def throwaway_database(admin_url: str = ADMIN_URL) -> Iterator[str]:
    """A new, empty database on `admin_url`'s server; its URL. Dropped afterwards."""
    name = f"authserver_drill_{secrets.token_hex(6)}"
    _run_admin(admin_url, f'CREATE DATABASE "{name}"', name)
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        _run_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', name)


def _run_admin(admin_url: str, statement: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"refusing database name {name!r}")
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def cluster_missing() -> str | None:
    """Why no private cluster can be made here, or None."""
    if _bindir() is None:
        return f"no PostgreSQL binaries (initdb, pg_ctl) under {_BINARIES}"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: initdb refuses to run as root"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no postgres user to run initdb as"
    return None


class PrivateCluster:
    """A cluster in `directory`, listening on 127.0.0.1:`port` and a socket in `directory`."""

    def __init__(self, directory: Path, bindir: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self._bindir = bindir

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def initdb(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
            "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        """Start and wait until it accepts connections (`pg_ctl -w`)."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        log = str(self.directory / "postgresql.log")
        self._run("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: sessions are ended and open transactions rolled back, as an operator's
        stop does; `immediate`: no shutdown checkpoint, as a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-w", "-m", mode, "stop")

    def running(self) -> bool:
        status = self._run("pg_ctl", "-D", str(self.data), "status", check=False)
        return status.returncode == 0

    def _run(
        self, program: str, *arguments: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        command = [str(self._bindir / program), *arguments]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        finished = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=self.directory,
            start_new_session=True,  # a Ctrl-C at the terminal is the runner's to handle
        )
        if check and finished.returncode != 0:
            raise RuntimeError(f"{program} failed: {finished.stderr.strip()[-500:]}")
        return finished


@contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A started private cluster; stopped and its directory removed afterwards, whatever
    happens (an exception, a Ctrl-C)."""
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError(cluster_missing() or "no PostgreSQL binaries")
    directory = Path(tempfile.mkdtemp(prefix="authserver-drill-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(directory, "postgres", "postgres")
        cluster = PrivateCluster(directory, bindir)
        cluster.initdb()
        cluster.start()
        try:
            yield cluster
        finally:
            if cluster.running():
                cluster.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _bindir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin with initdb and pg_ctl."""
    candidates = []
    if _BINARIES.is_dir():
        for entry in _BINARIES.iterdir():
            bindir = entry / "bin"
            if (
                entry.name.isdigit()
                and (bindir / "initdb").exists()
                and (bindir / "pg_ctl").exists()
            ):
                candidates.append((int(entry.name), bindir))
    return max(candidates)[1] if candidates else None

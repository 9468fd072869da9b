"""nginx as a plain program in front of authserver: the project's site template, rendered
into a directory of its own (config, logs, temp files, pid), checked with `nginx -t`.

Used by `make fleet` (deploy/fleet.py) and by tests/e2e/test_behind_nginx.py, so that
both run exactly the site deploy/compose.yaml runs.
"""

# It runs the nginx binary it is given.
# ruff: noqa: S603

import subprocess
from pathlib import Path

TEMPLATES = Path(__file__).resolve().parent / "nginx"


def prepare_nginx(
    nginx: str,
    directory: Path,
    *,
    listen: str,
    server_name: str,
    upstreams: tuple[str, str],
    certificate: Path,
    key: Path,
) -> list[str]:
    """Write the configuration under `directory` and check it; the command that runs
    nginx in the foreground with it. Raises RuntimeError with nginx's complaint."""
    for temp in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (directory / "temp" / temp).mkdir(parents=True, exist_ok=True)
    site = directory / "authserver.conf"
    site.write_text(
        render(
            TEMPLATES / "authserver.conf.template",
            PROXY_LISTEN=listen,
            PROXY_SERVER_NAME=server_name,
            PROXY_UPSTREAM_1=upstreams[0],
            PROXY_UPSTREAM_2=upstreams[1],
            PROXY_TLS_CERTIFICATE=str(certificate),
            PROXY_TLS_CERTIFICATE_KEY=str(key),
            PROXY_ACCESS_LOG=str(directory / "access.log"),
        )
    )
    main = directory / "nginx.conf"
    main.write_text(
        render(
            TEMPLATES / "local.conf.template",
            PROXY_RUNTIME_DIR=str(directory),
            PROXY_SITE=str(site),
        )
    )
    command = [nginx, "-p", str(directory), "-c", str(main), "-e", str(directory / "error.log")]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx -t: {checked.stderr.strip()}")
    return [*command, "-g", "daemon off;"]


def render(template: Path, **values: str) -> str:
    """envsubst with a list, as the nginx image does: only ${NAME} for the names given."""
    text = template.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return text

"""SECURITY-CHECKLIST "Dependencies": the floors, never python-jose, AUTHLIB_INSECURE_TRANSPORT.

The floors are read from pyproject.toml (what `pip install` may pick) and from the
installed distributions (what the tests run against). The Authlib defaults the checklist
overrides are each proven by behaviour elsewhere; docs/security-checklist.md names them.
"""

import ast
import importlib.metadata
import importlib.util
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from packaging.requirements import Requirement
from packaging.version import Version

from authserver.app import create_app
from authserver.db import Database
from authserver.errors import ConfigurationError
from tests.conftest import ISSUER, make_settings

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))

# SECURITY-CHECKLIST "Dependencies"; starlette's floor raised to 0.49.1 by issue 14 item 3
# (CVE-2025-54121, CVE-2025-62727). PyJWT is a dev dependency: the tests' own verifier.
FLOORS = {
    "authlib": "1.7.2",
    "joserfc": "1.6.1",
    "pyjwt": "2.13",
    "starlette": "0.49.1",
    "python-multipart": "0.0.18",
    "cryptography": "45",
}
LOWER_BOUNDS = (">=", "~=", "==", "===")


def declared_requirements() -> dict[str, Requirement]:
    """Every requirement pyproject.toml declares, runtime and extras, by normalized name."""
    project = PYPROJECT["project"]
    lines = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        lines.extend(extra)
    requirements = [Requirement(line) for line in lines]
    return {requirement.name.lower().replace("_", "-"): requirement for requirement in requirements}


@pytest.mark.parametrize(("name", "floor"), FLOORS.items(), ids=FLOORS.keys())
def test_each_dependency_is_declared_with_at_least_its_floor_and_installed_above_it(
    name: str, floor: str
) -> None:
    """SECURITY-CHECKLIST "Dependencies": `authlib>=1.7.2`, `joserfc>=1.6.1`, `pyjwt>=2.13`,
    `starlette>=0.40` (now >=0.49.1), `python-multipart>=0.0.18`, `cryptography>=45`."""
    requirement = declared_requirements().get(name)
    assert requirement is not None, f"pyproject.toml does not declare {name}"
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in LOWER_BOUNDS]
    assert bounds, f"{requirement} has no lower bound: an older, vulnerable release may install"
    assert max(bounds) >= Version(floor), f"{requirement} allows releases below {floor}"
    assert Version(importlib.metadata.version(name)) >= Version(floor)


def test_python_jose_is_neither_declared_installed_nor_imported() -> None:
    """SECURITY-CHECKLIST "Dependencies": never python-jose (unmaintained; CVE-2024-33663
    algorithm confusion, CVE-2024-33664 JWE bomb)."""
    assert not {"python-jose", "jose"} & declared_requirements().keys()
    for distribution in ("python-jose", "python-jose-cryptodome", "jose"):
        with pytest.raises(importlib.metadata.PackageNotFoundError):
            importlib.metadata.distribution(distribution)
    assert importlib.util.find_spec("jose") is None
    importers = [
        str(path.relative_to(ROOT))
        for path in sorted((ROOT / "authserver").rglob("*.py"))
        if "jose" in imported_top_level_modules(path)
    ]
    assert importers == []


def imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Start-up checks: one database is enough."""
    return sqlite_url


@pytest.fixture
def insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")


def test_authlib_insecure_transport_stops_a_production_server_from_starting(
    insecure_transport: None, database: Database, keys_dir: Path
) -> None:
    """SECURITY-CHECKLIST "Dependencies": refuse to start with AUTHLIB_INSECURE_TRANSPORT
    set outside dev mode (it turns off Authlib's https check)."""
    settings = make_settings(
        mode="production",
        keys_passphrase="a passphrase of more than 16 characters",
        database_url=database.url,
        keys_dir=keys_dir,
    )
    assert settings.production_problems() == [
        "AUTHLIB_INSECURE_TRANSPORT must not be set in production mode"
    ]
    with pytest.raises(ConfigurationError, match="AUTHLIB_INSECURE_TRANSPORT"):
        create_app(settings)


def test_authlib_insecure_transport_is_allowed_in_development_mode(
    insecure_transport: None, database: Database, keys_dir: Path
) -> None:
    """The control: the refusal above is for production mode only (CONTRACT.md)."""
    settings = make_settings(database_url=database.url, keys_dir=keys_dir)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        assert http.get("/readyz").status_code == 200

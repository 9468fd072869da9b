"""Static checks of the Dockerfile and .dockerignore, and of the wheel the image installs.

No Docker engine is needed: the Dockerfile is parsed as text. What only a build or a running
container can show (the packages resolve, the healthcheck turns healthy) is not checked here.
"""

import fnmatch
import importlib.util
import json
import re
import shlex
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ROOT_USERS = {"root", "0"}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    @property
    def is_exec_form(self) -> bool:
        return self.arguments.startswith("[")

    def words(self) -> list[str]:
        """The JSON array of the exec form, else the arguments split as a shell would."""
        if self.is_exec_form:
            return json.loads(self.arguments)
        return shlex.split(self.arguments)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions in order: continuation lines joined, comments and blank lines dropped."""
    instructions = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def final_stage(instructions: list[Instruction]) -> list[Instruction]:
    """The instructions from the last FROM on: what the shipped image is made of."""
    starts = [i for i, instruction in enumerate(instructions) if instruction.keyword == "FROM"]
    assert starts, "the Dockerfile has no FROM"
    return instructions[starts[-1] :]


def last_index(stage: list[Instruction], keyword: str) -> int:
    indexes = [i for i, instruction in enumerate(stage) if instruction.keyword == keyword]
    assert indexes, f"the Dockerfile has no {keyword}"
    return indexes[-1]


def last(stage: list[Instruction], keyword: str) -> Instruction:
    return stage[last_index(stage, keyword)]


def environment(stage: list[Instruction]) -> dict[str, str]:
    values: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword != "ENV":
            continue
        words = shlex.split(instruction.arguments)
        if "=" not in words[0]:  # the legacy `ENV NAME value` form
            values[words[0]] = " ".join(words[1:])
            continue
        values.update(word.split("=", 1) for word in words)
    return values


def option_value(words: list[str], option: str) -> str | None:
    for i, word in enumerate(words):
        if word == option and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(option + "="):
            return word.split("=", 1)[1]
    return None


def copied_sources(instructions: list[Instruction]) -> list[str]:
    """What COPY and ADD take from the build context (not from another stage)."""
    sources = []
    for instruction in instructions:
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        words = instruction.words()
        if any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words if not word.startswith("--")][:-1]
    return sources


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, near enough: the last matching pattern wins; a match on a parent counts."""
    clean = PurePosixPath(path.removeprefix("./").rstrip("/"))
    candidates = [str(clean), *(str(parent) for parent in clean.parents if str(parent) != ".")]
    ignored = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!").removeprefix("./").strip("/")
        variants = [body, body.removeprefix("**/")]
        if any(fnmatch.fnmatchcase(c, v) for c in candidates for v in variants):
            ignored = not negated
    return ignored


@pytest.fixture(scope="module")
def image() -> list[Instruction]:
    return final_stage(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))


def test_the_base_image_is_a_python_3_11_or_newer_slim_image(image: list[Instruction]) -> None:
    words = [word for word in last(image, "FROM").words() if not word.startswith("--")]
    match = re.fullmatch(
        r"(?:docker\.io/)?(?:library/)?python:3\.(\d+)(?:\.\d+)?-slim(?:-\w+)?(?:@sha256:\w+)?",
        words[0],
    )
    assert match, f"the base image {words[0]!r} is not python:3.x-slim"
    assert int(match.group(1)) >= 11


def test_the_image_installs_the_package_from_the_checkout(image: list[Instruction]) -> None:
    commands = [i.arguments for i in image if i.keyword == "RUN"]
    installs = [c for c in commands if re.search(r"\bpip3? install\b[^&;|]*\s\.(?:\s|$)", c)]
    assert installs, "no RUN does `pip install .`"
    assert all("--no-cache-dir" in command for command in installs)


def test_the_image_runs_as_a_non_root_user(image: list[Instruction]) -> None:
    user_index = last_index(image, "USER")
    user, _, group = image[user_index].arguments.partition(":")
    assert user not in ROOT_USERS
    assert group not in ROOT_USERS
    assert user_index < last_index(image, "ENTRYPOINT")
    assert user_index < last_index(image, "CMD")


def test_the_user_is_a_fixed_numeric_uid_created_in_the_image(image: list[Instruction]) -> None:
    # A numeric USER lets an orchestrator verify "not root" (Kubernetes runAsNonRoot).
    uid = last(image, "USER").arguments.partition(":")[0]
    assert uid.isdigit(), f"USER {uid} is not a numeric uid"
    created = [
        i.arguments for i in image if i.keyword == "RUN" and re.search(r"\buseradd\b", i.arguments)
    ]
    assert any(re.search(rf"(?:--uid[= ]|-u ){uid}\b", command) for command in created)


def test_the_image_exposes_port_8000(image: list[Instruction]) -> None:
    exposed = [word for i in image if i.keyword == "EXPOSE" for word in i.words()]
    assert {"8000", "8000/tcp"} & set(exposed)


def test_the_healthcheck_asks_healthz_on_the_served_port(image: list[Instruction]) -> None:
    healthcheck = last(image, "HEALTHCHECK").arguments
    match = re.search(r"http://127\.0\.0\.1:(\d+)/healthz\b", healthcheck)
    assert match, "the HEALTHCHECK does not ask /healthz on 127.0.0.1"
    assert match.group(1) == option_value(last(image, "CMD").words(), "--port")
    # python:3.11-slim has neither curl nor wget.
    assert not re.search(r"\b(?:curl|wget)\b", healthcheck)


def test_the_entrypoint_runs_authserver(image: list[Instruction]) -> None:
    entrypoint = last(image, "ENTRYPOINT")
    # The exec form makes authserver PID 1, so `docker stop` (SIGTERM) reaches uvicorn.
    assert entrypoint.is_exec_form
    assert entrypoint.words() == ["authserver"]


def test_the_command_serves_on_every_interface_at_port_8000(image: list[Instruction]) -> None:
    command = last(image, "CMD")
    assert command.is_exec_form
    words = command.words()
    assert words[0] == "serve"
    assert option_value(words, "--host") == "0.0.0.0"  # noqa: S104 - inside a container
    assert option_value(words, "--port") == "8000"


def test_every_path_the_dockerfile_copies_exists_in_the_repository() -> None:
    sources = copied_sources(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))
    assert sources
    missing = [source for source in sources if not (REPO / source).exists()]
    assert not missing


def test_no_path_the_dockerfile_copies_is_left_out_of_the_build_context() -> None:
    sources = copied_sources(parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")))
    patterns = dockerignore_patterns()
    assert not [source for source in sources if is_ignored(source, patterns)]


@pytest.mark.parametrize(
    "path",
    [
        "keys/key-0123456789abcdef.pem",
        "keys/keyring.json",
        ".env",
        ".venv/bin/python",
        "var/authserver.db",
        ".git/config",
        "authserver/__pycache__/app.cpython-311.pyc",
    ],
)
def test_the_build_context_leaves_out_keys_secrets_and_local_state(path: str) -> None:
    assert is_ignored(path, dockerignore_patterns())


def test_the_keys_volume_is_the_configured_keys_directory(image: list[Instruction]) -> None:
    keys_dir = environment(image)["AUTHSERVER_KEYS_DIR"]
    volumes = [word for i in image if i.keyword == "VOLUME" for word in i.words()]
    assert keys_dir in volumes


def test_the_sqlite_database_lives_on_a_volume(image: list[Instruction]) -> None:
    url = environment(image)["AUTHSERVER_DATABASE_URL"]
    assert url.startswith("sqlite:////"), "the default database is an absolute SQLite path"
    volumes = [word for i in image if i.keyword == "VOLUME" for word in i.words()]
    assert str(PurePosixPath(url.removeprefix("sqlite:///")).parent) in volumes


def test_the_keys_directory_is_private_to_the_user_before_it_becomes_a_volume(
    image: list[Instruction],
) -> None:
    # Changes to a directory after VOLUME declares it are discarded.
    keys_dir = re.escape(environment(image)["AUTHSERVER_KEYS_DIR"])
    uid = last(image, "USER").arguments.partition(":")[0]
    volume_index = last_index(image, "VOLUME")
    prepared = [i.arguments for i in image[:volume_index] if i.keyword == "RUN"]
    assert any(re.search(rf"\bchmod\s+0?700\b[^&;]*\s{keys_dir}(?:\s|$)", c) for c in prepared)
    assert any(re.search(rf"\bchown\b[^&;]*\b{uid}(?::{uid})?\s", c) for c in prepared)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    """The wheel `pip install .` builds from this checkout, as the image does."""
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out)]
    if importlib.util.find_spec("hatchling") is not None:
        command.append("--no-build-isolation")  # the backend is here: no index needed
    result = subprocess.run(
        [*command, str(REPO)], capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 and "installing build dependencies" in output.lower():
        pytest.skip("cannot fetch the build backend (hatchling>=1.25) to build the wheel")
    assert result.returncode == 0, output
    (path,) = out.glob("authserver-*.whl")
    with zipfile.ZipFile(path) as archive:
        yield archive


def test_the_wheel_carries_the_migrations(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    assert "authserver/_migrations/env.py" in names
    assert "authserver/_migrations/versions/0001_clients.py" in names


def test_the_wheel_installs_the_authserver_command(wheel: zipfile.ZipFile) -> None:
    (entry_points,) = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
    text = wheel.read(entry_points).decode("utf-8")
    assert re.search(r"^\[console_scripts\]$", text, re.MULTILINE)
    assert re.search(r"^authserver = authserver\.cli:main$", text, re.MULTILINE)

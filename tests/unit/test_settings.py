"""Settings: CONTRACT.md defaults, one-line errors naming the variable, production refusals."""

import logging
import re
from datetime import timedelta
from pathlib import Path
from subprocess import CompletedProcess

import pytest

from authserver.app import create_app
from authserver.errors import ConfigurationError
from authserver.settings import NOT_SETTINGS, Settings, load_settings
from tests.e2e.processes import cli_environment, run_cli


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AUTHSERVER_") or name == "AUTHLIB_INSECURE_TRANSPORT":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_the_defaults_are_the_contract() -> None:
    settings = load_settings()
    assert settings.issuer == "http://127.0.0.1:8000"
    assert settings.database_url == "sqlite:///./var/authserver.db"
    assert settings.keys_dir == Path("./keys")
    assert settings.mode == "production"
    assert settings.keys_passphrase is None
    assert settings.access_token_ttl == timedelta(seconds=900)
    assert settings.refresh_token_ttl == timedelta(seconds=604800)
    assert settings.audience == settings.issuer
    assert settings.keys_rsa_bits == 2048
    assert settings.jwt_leeway == timedelta(seconds=60)


def test_environment_variables_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("AUTHSERVER_ACCESS_TOKEN_TTL=60\nOTHER_APP_SETTING=x\n")
    monkeypatch.setenv("AUTHSERVER_DEFAULT_AUDIENCE", "https://api.example.test")
    settings = load_settings()
    assert settings.access_token_ttl == timedelta(seconds=60)
    assert settings.audience == "https://api.example.test"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "soon"),
        ("AUTHSERVER_ACCESS_TOKEN_TTL", "0"),
        ("AUTHSERVER_MODE", "staging"),
        ("AUTHSERVER_ISSUER", "not a url"),
        ("AUTHSERVER_ISSUER", "https://idp.example.test/?tenant=1"),
        ("AUTHSERVER_ISSUER", "https://a b"),
        ("AUTHSERVER_ISSUER", "https://idp.example.test:99999"),
        ("AUTHSERVER_ISSUER", "https://[idp.example.test"),
        ("AUTHSERVER_KEYS_RSA_BITS", "1024"),
        ("AUTHSERVER_KEYS_PASSPHRASE", ""),
        # SECURITY-CHECKLIST: a leeway of at most 60 s on incoming JWTs.
        ("AUTHSERVER_JWT_LEEWAY", "61"),
        ("AUTHSERVER_JWT_LEEWAY", "-1"),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message
    assert "\n" not in message


def test_the_rsa_key_size_can_be_set_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTHSERVER_KEYS_RSA_BITS", "3072")
    assert load_settings().keys_rsa_bits == 3072


def test_a_trailing_slash_on_the_issuer_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSERVER_ISSUER", "https://idp.example.test/")
    assert load_settings().issuer == "https://idp.example.test"


def test_production_refuses_to_start_without_a_passphrase() -> None:
    with pytest.raises(ConfigurationError, match="AUTHSERVER_KEYS_PASSPHRASE"):
        create_app(load_settings())


def test_production_refuses_a_plain_http_issuer_off_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTHSERVER_KEYS_PASSPHRASE", "sixteen or more characters")
    monkeypatch.setenv("AUTHSERVER_ISSUER", "http://idp.example.test")
    assert load_settings().production_problems() == [
        "AUTHSERVER_ISSUER must be https in production mode"
    ]
    monkeypatch.setenv("AUTHSERVER_ISSUER", "http://[::1]:8000")
    assert load_settings().production_problems() == []


def test_production_refuses_authlib_insecure_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSERVER_KEYS_PASSPHRASE", "sixteen or more characters")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    assert any("AUTHLIB_INSECURE_TRANSPORT" in p for p in load_settings().production_problems())


def test_development_mode_relaxes_the_production_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSERVER_MODE", "development")
    monkeypatch.setenv("AUTHSERVER_ISSUER", "http://idp.example.test")
    assert load_settings().production_problems() == []


@pytest.mark.parametrize("passphrase", ["s3cret", "fifteen chars.."])
def test_production_refuses_a_passphrase_shorter_than_16_characters(
    monkeypatch: pytest.MonkeyPatch, passphrase: str
) -> None:
    # Issue 14: scrypt slows each guess; only length makes the passphrase itself strong.
    monkeypatch.setenv("AUTHSERVER_KEYS_PASSPHRASE", passphrase)
    assert load_settings().production_problems() == [
        "AUTHSERVER_KEYS_PASSPHRASE must be at least 16 characters in production mode"
    ]
    monkeypatch.setenv("AUTHSERVER_KEYS_PASSPHRASE", passphrase + "!")
    assert load_settings().production_problems() == (
        []
        if len(passphrase) == 15
        else ["AUTHSERVER_KEYS_PASSPHRASE must be at least 16 characters in production mode"]
    )


# Issue 14, item 7: settings that fail loudly. An unknown AUTHSERVER_* name is a typo
# until shown otherwise: refused in production, a warning in development, never silent.

TYPO, MEANT = "AUTHSERVER_ACESS_TOKEN_TTL", "AUTHSERVER_ACCESS_TOKEN_TTL"


def test_production_refuses_an_unknown_variable_naming_the_closest_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(TYPO, "120-seconds-secret-looking-value")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert message == (
        f"not a setting: {TYPO} in the environment (did you mean {MEANT}?); "
        "production mode refuses unknown AUTHSERVER_* variables"
    )
    assert "secret-looking" not in message  # names only: a value may be a secret


def test_production_refuses_an_unknown_dotenv_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("AUTHSERVER_ISSUER=http://127.0.0.1:9000\nAUTHSERVER_LOG_FORMT=json\n")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    assert str(raised.value).startswith(
        "not a setting: AUTHSERVER_LOG_FORMT in .env (did you mean AUTHSERVER_LOG_FORMAT?);"
    )


def test_every_unknown_variable_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("authserver_sesion_ttl=60\n")
    monkeypatch.setenv(TYPO, "60")
    monkeypatch.setenv("AUTHSERVER_FROBNICATE", "1")
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert "\n" not in message
    assert f"{TYPO} in the environment (did you mean {MEANT}?)" in message
    assert "AUTHSERVER_FROBNICATE in the environment," in message  # nothing close to it
    assert "AUTHSERVER_SESION_TTL in .env (did you mean AUTHSERVER_SESSION_TTL?)" in message


def test_development_mode_warns_of_an_unknown_variable_and_goes_on(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AUTHSERVER_MODE", "development")
    monkeypatch.setenv(TYPO, "60")
    with caplog.at_level(logging.WARNING, logger="authserver.settings"):
        settings = load_settings()
    assert settings.access_token_ttl == timedelta(seconds=900)  # the typo changed nothing
    assert [record.getMessage() for record in caplog.records] == [
        f"not a setting, ignored: {TYPO} in the environment (did you mean {MEANT}?)"
    ]


def test_setting_names_are_matched_without_regard_to_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("authserver_access_token_ttl", "60")
    assert load_settings().access_token_ttl == timedelta(seconds=60)
    monkeypatch.setenv("authserver_acess_token_ttl", "60")
    with pytest.raises(ConfigurationError, match=TYPO):
        load_settings()


def test_variables_read_elsewhere_are_not_unknown_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in NOT_SETTINGS:
        monkeypatch.setenv(name, "1")
    load_settings()
    # `keys import --from-passphrase-env NAME` reads NAME itself.
    monkeypatch.setenv("AUTHSERVER_OLD_KEYS_PASSPHRASE", "x")
    assert load_settings(allowed_variables=["AUTHSERVER_OLD_KEYS_PASSPHRASE"])
    with pytest.raises(ConfigurationError, match="AUTHSERVER_OLD_KEYS_PASSPHRASE"):
        load_settings()


ROOT = Path(__file__).resolve().parents[2]
# Where AUTHSERVER_* variables are set or read; the settings module and this file name
# typos on purpose.
PLACES = ["authserver", "tests", "bench", "deploy", "examples", ".ci", "Makefile", "Dockerfile"]
SKIPPED = {ROOT / "authserver" / "settings.py", Path(__file__).resolve()}


def repository_files() -> list[Path]:
    files = []
    for place in PLACES:
        path = ROOT / place
        found = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        files += [f for f in found if not {"node_modules", "__pycache__"} & set(f.parts)]
    return [f for f in files if f not in SKIPPED]


def test_every_authserver_variable_the_repository_uses_is_a_setting_or_allowed() -> None:
    """A variable the tests, bench, deploy or CI scripts set or read must not trip the
    check: it is a setting, or it is in NOT_SETTINGS (documented in configuration.md)."""
    known = {f"AUTHSERVER_{name.upper()}" for name in Settings.model_fields} | NOT_SETTINGS
    used: dict[str, Path] = {}
    for file in repository_files():
        for name in re.findall(r"AUTHSERVER_[A-Z0-9_]+", file.read_text(errors="ignore")):
            if not name.endswith("_"):  # a prefix, as in AUTHSERVER_PASSWORD_*
                used.setdefault(name, file.relative_to(ROOT))
    assert {name: file for name, file in used.items() if name not in known} == {}
    assert len(used) > 20  # the scan saw the settings the repository sets


# One invalid value for every setting that has one; each is refused with one line that
# names its variable. A setting added without a case here fails the coverage test below.
INVALID_VALUES = {
    "issuer": "https://idp.example.test/#top",
    "database_pool_size": "0",
    "keys_store": "s3",
    "mode": "staging",
    "keys_passphrase": "",
    "keys_rsa_bits": "4096",
    "keys_reload_interval": "-1",
    "jwks_max_age": "five minutes",
    "keys_rotation_interval": "-5",
    "keys_publish_before_use": "1",
    "access_token_ttl": "0",
    "refresh_token_ttl": "0",
    "default_audience": " ",
    "client_cache_ttl": "soon",
    "client_rate_limit": "fast",
    "registration": "closed",
    "mfa": "sometimes",
    "upstream_issuer": "not a url",
    "upstream_client_id": "",
    "upstream_client_secret": "",
    "upstream_name": "Two Words",
    "upstream_display_name": "x" * 101,
    "registration_rate_limit": "lots",
    "id_token_ttl": "PT0.5S",
    "jwt_leeway": "61",
    "authorization_code_ttl": "601",
    "session_ttl": "0",
    "session_idle_ttl": "-1",
    "refresh_token_idle_ttl": "0",
    "refresh_reuse_grace": "-1",
    "login_max_concurrent_hashes": "0",
    "password_memory_kib": "8192",
    "password_time_cost": "1",
    "password_parallelism": "0",
    "redis_url": "http://user:hunter2@redis.internal:6379",
    "redis_key_prefix": "two words",
    "trusted_proxies": "10.0.0.0/33",
    "metrics_token": "short-secret",
    "log_format": "xml",
    "log_requests": "maybe",
    "audit_flush_interval": "0",
    "audit_retention": "-1",
    "status_list_ttl": "0",
    "status_list_size": "15",
    "status_list_rollover": "59",
    "outbound_allow_private": "sometimes",
    "outbox_interval": "0",
    "device_code_ttl": "59",
    "device_code_interval": "61",
    "outbox_max_backoff": "7200",
    "backchannel_logout_give_up": "0",
    "signing_alg": "HS256",
    "extra_signing_algs": "ES256,HS256",
    "profile": "fapi1",
    "require_par": "sometimes",
    "par_ttl": "61",
    "dpop_proof_max_age": "0",
    "dpop_nonce_required": "perhaps",
}
# Any string is a valid value of these (a path; a URL that SQLAlchemy checks on use).
NO_INVALID_VALUE = {"database_url", "keys_dir"}


def test_every_setting_has_an_invalid_value_case() -> None:
    missing = set(Settings.model_fields) - set(INVALID_VALUES) - NO_INVALID_VALUE
    assert not missing, f"add an invalid value for {sorted(missing)} to INVALID_VALUES"


@pytest.mark.parametrize(("field", "value"), INVALID_VALUES.items())
def test_every_invalid_value_is_one_line_naming_its_variable_and_not_its_secret(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str
) -> None:
    variable = f"AUTHSERVER_{field.upper()}"
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as raised:
        load_settings()
    message = str(raised.value)
    assert variable in message and "\n" not in message
    if field in ("redis_url", "metrics_token"):
        assert "hunter2" not in message and value not in message


def run_authserver(tmp_path: Path, *arguments: str, **variables: str) -> CompletedProcess[str]:
    environment = cli_environment(f"sqlite:///{tmp_path / 'db.sqlite'}", tmp_path / "keys")
    environment.update(variables)
    return run_cli(environment, *arguments)


@pytest.mark.e2e
@pytest.mark.parametrize("command", [["serve", "--port", "1"], ["clients", "list"]])
def test_a_command_in_production_mode_exits_1_with_one_line_on_an_unknown_variable(
    tmp_path: Path, command: list[str]
) -> None:
    # CONTRACT.md (Command line): exit 1 with a one-line message on stderr.
    done = run_authserver(tmp_path, *command, AUTHSERVER_MODE="production", **{TYPO: "60"})
    assert done.returncode == 1
    assert done.stderr == (
        f"authserver: not a setting: {TYPO} in the environment (did you mean {MEANT}?); "
        "production mode refuses unknown AUTHSERVER_* variables\n"
    )


@pytest.mark.e2e
def test_a_command_in_development_mode_warns_on_stderr_and_succeeds(tmp_path: Path) -> None:
    done = run_authserver(tmp_path, "db", "upgrade", **{TYPO: "60"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0] == (
        f"not a setting, ignored: {TYPO} in the environment (did you mean {MEANT}?)"
    )

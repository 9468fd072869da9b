"""Settings: CONTRACT.md defaults, one-line errors naming the variable, production refusals."""

from datetime import timedelta
from pathlib import Path

import pytest

from authserver.app import create_app
from authserver.errors import ConfigurationError
from authserver.settings import load_settings


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

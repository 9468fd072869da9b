"""argon2id parameters (RFC 9106; SECURITY-CHECKLIST: at least 19 MiB, t=2, p=1)."""

import pytest

from authserver.errors import ConfigurationError
from authserver.settings import load_settings
from authserver.users.passwords import MAX_PASSWORD_LENGTH, PasswordHashing


def test_hashes_are_argon2id_with_at_least_the_owasp_parameters() -> None:
    stored = PasswordHashing().hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PasswordHashing().verify("correct horse", stored)
    assert not PasswordHashing().verify("correct horsf", stored)


def test_passwords_are_never_truncated_and_have_a_maximum() -> None:
    hashing = PasswordHashing()
    stored = hashing.hash("a" * MAX_PASSWORD_LENGTH)
    assert not hashing.verify("a" * (MAX_PASSWORD_LENGTH - 1), stored)
    with pytest.raises(ValueError, match="1 to 1024"):
        hashing.hash("a" * (MAX_PASSWORD_LENGTH + 1))


def test_stronger_settings_mark_older_hashes_for_an_upgrade() -> None:
    weak = PasswordHashing().hash("pw")
    stronger = PasswordHashing(memory_kib=32 * 1024, time_cost=3)
    assert stronger.needs_rehash(weak)
    assert not stronger.needs_rehash(stronger.hash("pw"))
    assert stronger.verify("pw", weak)  # old hashes still verify until upgraded


@pytest.mark.parametrize(
    ("variable", "value"),
    [("password_memory_kib", 8192), ("password_time_cost", 1), ("password_parallelism", 0)],
)
def test_settings_below_the_minimum_are_refused(variable: str, value: int) -> None:
    with pytest.raises(ConfigurationError, match=f"AUTHSERVER_{variable.upper()}"):
        load_settings(_env_file=None, **{variable: value})


def test_weaker_settings_never_downgrade_a_stronger_hash() -> None:
    strong = PasswordHashing(memory_kib=32 * 1024, time_cost=3).hash("pw")
    assert not PasswordHashing().needs_rehash(strong)

"""Settings from AUTHSERVER_* environment variables and .env (docs/configuration.md)."""

import difflib
import ipaddress
import logging
import os
import re
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from limits import RateLimitItem, parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, DotEnvSettingsSource, NoDecode, SettingsConfigDict

from authserver.errors import ConfigurationError
from authserver.networks import parse_networks
from authserver.profiles.fapi2 import FAPI2, FAPI2_ALGORITHMS
from authserver.resource.discovery import check_issuer
from authserver.users.passwords import MIN_MEMORY_KIB, MIN_TIME_COST, PasswordHashing

log = logging.getLogger(__name__)

ENV_PREFIX = "AUTHSERVER_"
# AUTHSERVER_* variables that are read elsewhere, not settings: the test suite's
# (tests/conftest.py, tests/e2e/test_browser_sso.py). The unknown-variable check passes
# them over (docs/configuration.md).
NOT_SETTINGS = frozenset({"AUTHSERVER_TEST_POSTGRES_URL", "AUTHSERVER_UPDATE_SCREENSHOT"})
MIN_PASSPHRASE_LENGTH = 16
_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]+\.[0-9]+")


class Settings(BaseSettings):
    """Every setting has a safe default; CONTRACT.md and docs/configuration.md list them."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_file=".env", extra="ignore", frozen=True
    )

    issuer: str = "http://127.0.0.1:8000"
    database_url: str = "sqlite:///./var/authserver.db"
    # PostgreSQL connections per server process, and the threads that use them.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    keys_dir: Path = Path("./keys")
    # Where signing keys live: "file" (keys_dir, one host) or "database" (a fleet).
    keys_store: Literal["file", "database"] = "file"
    mode: Literal["production", "development"] = "production"
    keys_passphrase: SecretStr | None = None
    keys_rsa_bits: int = 2048
    keys_reload_interval: timedelta = timedelta(seconds=10)
    jwks_max_age: timedelta = timedelta(minutes=5)
    # Scheduled rotation; "0" turns it off (then only `authserver keys rotate` rotates).
    keys_rotation_interval: timedelta | None = timedelta(days=30)
    # How long a `next` key is published before it may sign; default: JWKS max-age +
    # reload interval + 60 s, and never less than max-age + reload interval.
    keys_publish_before_use: timedelta | None = None
    access_token_ttl: timedelta = timedelta(minutes=15)
    refresh_token_ttl: timedelta = timedelta(days=7)
    default_audience: str | None = None
    client_cache_ttl: timedelta = timedelta(seconds=5)
    # /token, /revoke, /introspect, each per client: a `limits` rate ("1000/second",
    # "600/minute;20000/hour"), a bare number meaning per second; "0" turns it off.
    client_rate_limit: str = "1000/second"
    # Dynamic Client Registration (RFC 7591, docs/registration.md): "off" (no /register),
    # "protected" (an initial access token from `authserver registration-tokens create`),
    # or "open" (anyone may register a client).
    registration: Literal["off", "protected", "open"] = "protected"
    # POST /register per client address (a `limits` rate, "0" turns it off): what keeps
    # open registration from filling the clients table.
    registration_rate_limit: str = "10/minute;100/hour"
    id_token_ttl: timedelta = timedelta(minutes=10)
    # Clock skew allowed on a future `iat`/`nbf` of a token presented back to us.
    jwt_leeway: timedelta = timedelta(seconds=60)
    authorization_code_ttl: timedelta = timedelta(seconds=60)
    session_ttl: timedelta = timedelta(hours=12)
    session_idle_ttl: timedelta = timedelta(hours=1)
    refresh_token_idle_ttl: timedelta | None = None
    refresh_reuse_grace: timedelta = timedelta(0)
    # Second factors (docs/login-and-sso.md): "off" (passwords, passkeys and upstream
    # providers only), "optional" (asked of users who enrolled one, and for clients made
    # with --require-mfa) or "required" (for every authorization; users enrol first).
    mfa: Literal["off", "optional", "required"] = "optional"
    login_max_concurrent_hashes: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1)
    # SECURITY-CHECKLIST: argon2id with at least 19 MiB, t=2, p=1.
    password_memory_kib: int = Field(default=MIN_MEMORY_KIB, ge=MIN_MEMORY_KIB, le=4 * 1024 * 1024)
    password_time_cost: int = Field(default=MIN_TIME_COST, ge=MIN_TIME_COST, le=100)
    password_parallelism: int = Field(default=1, ge=1, le=64)
    # Shared rate limits and sign-in throttle for a fleet: redis://host:6379/0 (unset: none).
    redis_url: SecretStr | None = None
    # Prefixes every Redis key, so several deployments can share one Redis.
    redis_key_prefix: str = Field(default="authserver", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    # Reverse proxies whose X-Forwarded-* headers are believed: CIDRs, comma-separated.
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()
    # When set, GET /metrics requires "Authorization: Bearer <this>".
    metrics_token: SecretStr | None = None
    # "json" (one object per line) or "text"; unset: json, or text in development mode.
    log_format: Literal["json", "text"] | None = None
    log_requests: bool = True
    # Audit events without a transaction of their own (client_credentials tokens) are
    # written in batches this often; `db purge` deletes events older than the retention
    # ("0" keeps them forever).
    audit_flush_interval: timedelta = timedelta(seconds=1)
    audit_retention: timedelta | None = timedelta(days=90)
    # Token Status List (docs/revocation.md): the `ttl` of the published lists (how long
    # a verifier may cache one), entries per list, how long a list takes new tokens.
    status_list_ttl: timedelta = timedelta(seconds=60)
    status_list_size: int = Field(default=1 << 20, ge=16, le=1 << 24)
    status_list_rollover: timedelta = timedelta(days=1)
    # Outbound requests (back-channel logout): to loopback, private, link-local or
    # metadata addresses only when true; unset: true in development mode, else false.
    outbound_allow_private: bool | None = None
    # The outbox (back-channel logout): how often each process looks for due messages,
    # the longest wait between two attempts, and when a failing message is given up.
    outbox_interval: timedelta = timedelta(seconds=1)
    outbox_max_backoff: timedelta = timedelta(minutes=5)
    backchannel_logout_give_up: timedelta = timedelta(days=1)
    # The Device Authorization Grant (RFC 8628): how long a device code and its user code
    # live, and the seconds a device waits between polls of the token endpoint.
    device_code_ttl: timedelta = timedelta(minutes=10)
    device_code_interval: int = Field(default=5, ge=1, le=60)
    # The algorithm of the keys that sign access tokens, id_tokens and every other JWT
    # of ours (docs/fapi.md): a change takes effect at the next rotation.
    signing_alg: Literal["RS256", "PS256", "ES256", "EdDSA"] = "RS256"
    # More algorithms to keep current and next keys of, comma-separated: for the id_tokens
    # of clients registered with `--id-token-alg` (docs/keys.md); published, never used
    # for access tokens.
    extra_signing_algs: Annotated[
        tuple[Literal["RS256", "PS256", "ES256", "EdDSA"], ...], NoDecode
    ] = ()
    # FAPI 2.0 (docs/fapi.md): "fapi2" holds every client to the FAPI 2.0 Security
    # Profile; "default" leaves it to each client (`clients create --profile fapi2`).
    profile: Literal["default", "fapi2"] = "default"
    # RFC 9126: every authorization request must be pushed to /par first; how long a
    # pushed request's `request_uri` lives (at most 60 s).
    require_par: bool = False
    par_ttl: timedelta = timedelta(seconds=60)
    # RFC 9449: how old a DPoP proof's `iat` may be, and whether the token endpoint
    # demands a server-provided nonce (`DPoP-Nonce`) in every proof.
    dpop_proof_max_age: timedelta = timedelta(seconds=60)
    dpop_nonce_required: bool = False
    # One upstream OpenID provider for "Continue with ..." (docs/upstream-sign-in.md),
    # added or updated at start; `authserver upstreams add` adds any number, with options.
    upstream_issuer: str | None = None
    upstream_client_id: str | None = Field(default=None, pattern=r"^[\x20-\x7e]{1,255}$")
    upstream_client_secret: SecretStr | None = Field(default=None, min_length=1, max_length=512)
    upstream_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    upstream_display_name: str | None = Field(default=None, min_length=1, max_length=100)

    @field_validator("issuer")
    @classmethod
    def _issuer_is_a_url_without_query_or_fragment(cls, value: str) -> str:
        # RFC 8414 §2: the issuer is an https URL with no query or fragment.
        if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in value):
            raise ValueError("must be an absolute http(s) URL, printable ASCII without spaces")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError("must be an absolute http(s) URL with a valid host and port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        if parts.query or parts.fragment or "#" in value or parts.username:
            raise ValueError("must have no query, fragment or userinfo")
        return value.rstrip("/")

    @field_validator("upstream_issuer")
    @classmethod
    def _upstream_issuer(cls, value: str | None) -> str | None:
        # Compared exactly with the provider's discovery document: kept as given.
        return None if value is None else check_issuer(value)

    @field_validator("extra_signing_algs", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(dict.fromkeys(alg.strip() for alg in value.split(",") if alg.strip()))
        return value

    @property
    def signing_algorithms(self) -> tuple[str, ...]:
        """AUTHSERVER_SIGNING_ALG, then each extra one: the algorithms of our keys."""
        extras = (alg for alg in self.extra_signing_algs if alg != self.signing_alg)
        return (self.signing_alg, *extras)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _cidrs(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(str(network) for network in parse_networks(value))
        return value

    @field_validator("client_rate_limit", "registration_rate_limit", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            if int(value) < 0:
                raise ValueError("must not be negative (0 turns it off)")
            return "0" if int(value) == 0 else f"{int(value)}/second"
        if isinstance(value, str) and value.strip() != "0":
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    'must be a rate such as "1000/second" or "600/minute;20000/hour", or 0'
                ) from None
        return value

    @property
    def client_rate_limits(self) -> list[RateLimitItem]:
        """The per-client limits; empty when turned off."""
        return [] if self.client_rate_limit.strip() == "0" else parse_many(self.client_rate_limit)

    @property
    def registration_rate_limits(self) -> list[RateLimitItem]:
        """The per-address limits of POST /register; empty when turned off."""
        rate = self.registration_rate_limit
        return [] if rate.strip() == "0" else parse_many(rate)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _token_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("keys_rsa_bits")
    @classmethod
    def _rsa_size(cls, value: int) -> int:
        # SECURITY-CHECKLIST: RSA-2048 by default, 3072 allowed (signs about 3x slower).
        if value not in (2048, 3072):
            raise ValueError("must be 2048 or 3072")
        return value

    @field_validator("default_audience")
    @classmethod
    def _audience_is_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator(
        "keys_reload_interval",
        "jwks_max_age",
        "client_cache_ttl",
        "keys_rotation_interval",
        "keys_publish_before_use",
        "access_token_ttl",
        "refresh_token_ttl",
        "id_token_ttl",
        "authorization_code_ttl",
        "session_ttl",
        "session_idle_ttl",
        "refresh_token_idle_ttl",
        "refresh_reuse_grace",
        "audit_flush_interval",
        "audit_retention",
        "jwt_leeway",
        "status_list_ttl",
        "status_list_rollover",
        "outbox_interval",
        "outbox_max_backoff",
        "backchannel_logout_give_up",
        "device_code_ttl",
        "par_ttl",
        "dpop_proof_max_age",
        mode="before",
    )
    @classmethod
    def _seconds(cls, value: object) -> object:
        """Durations are seconds ("900", "0.5"); ISO 8601 ("PT15M") is accepted too."""
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            return int(value)
        if isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
            return float(value)
        return value

    @field_validator(
        "keys_reload_interval",
        "jwks_max_age",
        "client_cache_ttl",
        "refresh_reuse_grace",
        mode="after",
    )
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator(
        "access_token_ttl",
        "refresh_token_ttl",
        "id_token_ttl",
        "session_ttl",
        "session_idle_ttl",
        "refresh_token_idle_ttl",
        mode="after",
    )
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(seconds=1):
            raise ValueError("must be at least 1 second")
        return value

    @field_validator("status_list_ttl", mode="after")
    @classmethod
    def _status_list_ttl(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(days=1):
            raise ValueError("must be between 1 second and 1 day")
        return value

    @field_validator("par_ttl", "dpop_proof_max_age", mode="after")
    @classmethod
    def _short_lived(cls, value: timedelta) -> timedelta:
        # RFC 9126 §2.2 and FAPI 2.0 §5.3.2.2: a request_uri lives at most 60 s (and the
        # same bound is a DPoP proof's freshness window, RFC 9449 §11.1).
        if not timedelta(seconds=1) <= value <= timedelta(seconds=60):
            raise ValueError("must be between 1 and 60 seconds")
        return value

    @field_validator("outbox_interval", "outbox_max_backoff", mode="after")
    @classmethod
    def _outbox_pace(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=50) <= value <= timedelta(hours=1):
            raise ValueError("must be between 0.05 and 3600 seconds")
        return value

    @field_validator("backchannel_logout_give_up", mode="after")
    @classmethod
    def _give_up(cls, value: timedelta) -> timedelta:
        if not timedelta(seconds=1) <= value <= timedelta(days=30):
            raise ValueError("must be between 1 second and 30 days")
        return value

    @field_validator("status_list_rollover", mode="after")
    @classmethod
    def _rollover(cls, value: timedelta) -> timedelta:
        if not timedelta(minutes=1) <= value <= timedelta(days=30):
            raise ValueError("must be between 60 seconds and 30 days")
        return value

    @field_validator("device_code_ttl", mode="after")
    @classmethod
    def _device_code_ttl(cls, value: timedelta) -> timedelta:
        # RFC 8628 §3.2 leaves it to us: long enough to walk to a browser, short enough
        # that a code shown on a screen does not linger.
        if not timedelta(minutes=1) <= value <= timedelta(hours=1):
            raise ValueError("must be between 60 and 3600 seconds")
        return value

    @field_validator("authorization_code_ttl", mode="after")
    @classmethod
    def _short(cls, value: timedelta) -> timedelta:
        # RFC 6749 §4.1.2: a code expires shortly after it is issued (10 minutes at most).
        if not timedelta(seconds=1) <= value <= timedelta(minutes=10):
            raise ValueError("must be between 1 and 600 seconds")
        return value

    @field_validator("keys_rotation_interval", "audit_retention", mode="after")
    @classmethod
    def _zero_is_off(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError("must not be negative (0 turns it off)")
        return None if value == timedelta(0) else value

    @field_validator("jwt_leeway", mode="after")
    @classmethod
    def _leeway(cls, value: timedelta) -> timedelta:
        # SECURITY-CHECKLIST (RFC 8725 leaves it to us): at most 60 s, or a token issued
        # for later would be accepted long before its time.
        if not timedelta(0) <= value <= timedelta(seconds=60):
            raise ValueError("must be between 0 and 60 seconds")
        return value

    @field_validator("audit_flush_interval", mode="after")
    @classmethod
    def _flush_interval(cls, value: timedelta) -> timedelta:
        if not timedelta(milliseconds=10) <= value <= timedelta(minutes=1):
            raise ValueError("must be between 0.01 and 60 seconds")
        return value

    @model_validator(mode="after")
    def _notice_covers_caches(self) -> "Settings":
        floor = self.jwks_max_age + self.keys_reload_interval
        chosen = self.keys_publish_before_use
        if chosen is not None and chosen < floor:
            raise ValueError(
                "AUTHSERVER_KEYS_PUBLISH_BEFORE_USE must be at least AUTHSERVER_JWKS_MAX_AGE "
                f"+ AUTHSERVER_KEYS_RELOAD_INTERVAL ({int(floor.total_seconds())} s)"
            )
        return self

    @property
    def next_key_notice(self) -> timedelta:
        """How long a next key is published before it signs (see docs/keys.md)."""
        default = self.jwks_max_age + self.keys_reload_interval + timedelta(seconds=60)
        chosen = self.keys_publish_before_use
        return default if chosen is None else chosen

    @model_validator(mode="after")
    def _fapi2_signs_with_its_algorithms(self) -> "Settings":
        # FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA only.
        if self.profile == FAPI2 and self.signing_alg not in FAPI2_ALGORITHMS:
            raise ValueError(
                "AUTHSERVER_PROFILE=fapi2 needs AUTHSERVER_SIGNING_ALG to be one of "
                + ", ".join(FAPI2_ALGORITHMS)
            )
        return self

    @model_validator(mode="after")
    def _passphrase_is_not_blank(self) -> "Settings":
        if self.keys_passphrase is not None and not self.keys_passphrase.get_secret_value():
            raise ValueError("AUTHSERVER_KEYS_PASSPHRASE must not be empty when set")
        return self

    @property
    def development(self) -> bool:
        return self.mode == "development"

    @property
    def effective_log_format(self) -> Literal["json", "text"]:
        return self.log_format or ("text" if self.development else "json")

    @property
    def audience(self) -> str:
        """The `aud` of access tokens whose request names no `resource` (RFC 8707)."""
        return self.default_audience or self.issuer

    @property
    def outbound_private_allowed(self) -> bool:
        """AUTHSERVER_OUTBOUND_ALLOW_PRIVATE, or its mode's default."""
        if self.outbound_allow_private is None:
            return self.development
        return self.outbound_allow_private

    @property
    def issuer_is_https(self) -> bool:
        return self.issuer.startswith("https://")

    def password_hashing(self) -> PasswordHashing:
        return PasswordHashing(
            self.password_memory_kib, self.password_time_cost, self.password_parallelism
        )

    @property
    def cookie_prefix(self) -> str:
        """`__Host-` binds cookies to this exact origin; browsers allow it only with Secure."""
        return "__Host-" if self.issuer_is_https else ""

    def ensure_production_ready(self) -> None:
        """Raise the first production problem as a one-line ConfigurationError."""
        if problems := self.production_problems():
            raise ConfigurationError(problems[0])

    def production_problems(self) -> list[str]:
        """What production mode refuses to start with; empty in development mode."""
        if self.development:
            return []
        problems = []
        if self.keys_passphrase is None:
            problems.append(
                "AUTHSERVER_KEYS_PASSPHRASE is required in production mode "
                "(or set AUTHSERVER_MODE=development on a laptop)"
            )
        elif len(self.keys_passphrase.get_secret_value()) < MIN_PASSPHRASE_LENGTH:
            # scrypt slows each guess; it cannot make a short passphrase a strong one.
            problems.append(
                f"AUTHSERVER_KEYS_PASSPHRASE must be at least {MIN_PASSPHRASE_LENGTH} "
                "characters in production mode"
            )
        if not self.issuer_is_https and not _is_loopback(self.issuer):
            problems.append("AUTHSERVER_ISSUER must be https in production mode")
        if os.environ.get("AUTHLIB_INSECURE_TRANSPORT"):
            problems.append("AUTHLIB_INSECURE_TRANSPORT must not be set in production mode")
        return problems


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(*, allowed_variables: Iterable[str] = (), **overrides: object) -> Settings:
    """Read the settings, turning a bad value into one line that names its variable.

    An AUTHSERVER_* variable that is no setting (a typo) is refused in production mode and
    logged as a warning in development mode, naming the closest setting; the names in
    `NOT_SETTINGS` and `allowed_variables` (read by the caller itself) pass."""
    try:
        settings = Settings(**overrides)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        name = f"{ENV_PREFIX}{field.upper()}" if field else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"{name}: {message}") from None
    env_file = overrides.get("_env_file", Settings.model_config.get("env_file"))
    unknown = unknown_variables(env_file, allowed_variables)  # type: ignore[arg-type]
    if unknown and not settings.development:
        raise ConfigurationError(
            f"not a setting: {', '.join(unknown)}; production mode refuses unknown "
            f"{ENV_PREFIX}* variables"
        )
    for problem in unknown:
        log.warning("not a setting, ignored: %s", problem)
    return settings


def unknown_variables(env_file: Path | str | None, allowed: Iterable[str] = ()) -> list[str]:
    """Each AUTHSERVER_* name in the environment or `env_file` that is no setting, with
    where it is and the closest setting: `AUTHSERVER_ACESS_TOKEN_TTL in the environment
    (did you mean AUTHSERVER_ACCESS_TOKEN_TTL?)`. Names only: a value may be a secret.
    Case-insensitive, as the settings themselves are read."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    passed = known | NOT_SETTINGS | {name.upper() for name in allowed}
    dotenv = DotEnvSettingsSource(Settings, env_file=env_file).env_vars if env_file else {}
    found: dict[str, str] = {}
    for names, where in ((os.environ, "the environment"), (dotenv, str(env_file))):
        for name in names:
            upper = name.upper()
            if upper.startswith(ENV_PREFIX) and upper not in passed:
                found.setdefault(upper, where)
    return [f"{name} in {where}{_closest(name, known)}" for name, where in sorted(found.items())]


def _closest(name: str, known: set[str]) -> str:
    suffixes = {setting.removeprefix(ENV_PREFIX): setting for setting in known}
    matches = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1)
    return f" (did you mean {suffixes[matches[0]]}?)" if matches else ""

"""Registering a client: checks every field, generates its id and secret (shown once)."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from authserver.clients.key_sets import jwks_problem
from authserver.clients.models import (
    CONFIDENTIAL_AUTH_METHODS,
    GRANT_TYPES,
    PRIVATE_KEY_JWT,
    PROFILES,
    SIGNING_ALGORITHMS,
    TOKEN_EXCHANGE,
    Client,
)
from authserver.clients.repository import ClientRepository
from authserver.opaque import new_identifier, new_opaque_secret, opaque_hash
from authserver.scopes import parse_scope
from authserver.uris import (
    backchannel_logout_uri_problem,
    jwks_uri_problem,
    redirect_uri_problem,
    resource_uri_problem,
)


class RegistrationError(ValueError):
    """A field of the registration is invalid; `field` names the option."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ClientSpec:
    name: str
    grant_types: list[str]
    scope: str = ""
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    audiences: list[str] = field(default_factory=list)
    public: bool = False
    skip_consent: bool = False
    require_mfa: bool = False
    can_introspect: bool = False
    backchannel_logout_uri: str | None = None
    backchannel_logout_session_required: bool = False
    token_exchange_audiences: list[str] = field(default_factory=list)
    client_id: str | None = None
    # RFC 7591 §2, for a client registered at /register: its one authentication method
    # (None: either secret method, or none for a public client) and descriptive metadata.
    token_endpoint_auth_method: str | None = None
    registration_metadata: dict[str, Any] | None = None
    # private_key_jwt (RFC 7523): the client's public keys, or where to fetch them.
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None
    # FAPI 2.0 (docs/fapi.md): PAR and DPoP required, the profile, the id_token's alg.
    require_par: bool = False
    require_dpop: bool = False
    profile: str | None = None
    id_token_signed_response_alg: str | None = None


def register_client(repository: ClientRepository, spec: ClientSpec) -> tuple[Client, str | None]:
    """Store a new client; returns it with its plaintext secret (None for a public client,
    and for a private_key_jwt one, which proves itself with its keys: RFC 7523 §2.2)."""
    validate(spec)
    has_secret = not spec.public and spec.token_endpoint_auth_method != PRIVATE_KEY_JWT
    secret = new_opaque_secret() if has_secret else None
    client = Client(
        client_id=spec.client_id or new_identifier(),
        name=spec.name.strip(),
        secret_hash=opaque_hash(secret) if secret else None,
        grant_types=list(dict.fromkeys(spec.grant_types)),
        scope=" ".join(parse_scope(spec.scope) or []),
        redirect_uris=list(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=list(dict.fromkeys(spec.post_logout_redirect_uris)),
        audiences=list(dict.fromkeys(spec.audiences)),
        skip_consent=spec.skip_consent,
        require_mfa=spec.require_mfa,
        can_introspect=spec.can_introspect,
        backchannel_logout_uri=spec.backchannel_logout_uri,
        backchannel_logout_session_required=spec.backchannel_logout_session_required,
        token_exchange_audiences=list(dict.fromkeys(spec.token_exchange_audiences)),
        token_endpoint_auth_method=spec.token_endpoint_auth_method,
        registration_metadata=spec.registration_metadata,
        jwks=spec.jwks,
        jwks_uri=spec.jwks_uri,
        require_par=spec.require_par,
        require_dpop=spec.require_dpop,
        profile=spec.profile,
        id_token_signed_response_alg=spec.id_token_signed_response_alg,
    )
    return repository.add(client), secret


def validate(spec: ClientSpec) -> None:
    if not spec.name.strip() or len(spec.name) > 200:
        raise RegistrationError("--name", "a name has 1 to 200 characters")
    if not spec.grant_types:
        raise RegistrationError("--grant-type", "at least one grant type is required")
    for grant_type in spec.grant_types:
        if grant_type not in GRANT_TYPES:
            raise RegistrationError("--grant-type", f"must be one of {', '.join(GRANT_TYPES)}")
    if spec.public and "client_credentials" in spec.grant_types:
        # RFC 6749 §4.4: only confidential clients may use client_credentials.
        raise RegistrationError("--public", "a public client cannot use client_credentials")
    if spec.public and TOKEN_EXCHANGE in spec.grant_types:
        # RFC 8693 §2.1: the client exchanging is a service acting for the user; it must
        # authenticate, or anyone holding a user's token could have it re-issued.
        raise RegistrationError("--public", "a public client cannot use token exchange")
    _check_token_exchange(spec)
    _check_auth_method(spec)
    if spec.profile not in (None, *PROFILES):
        raise RegistrationError("--profile", f"must be one of {', '.join(PROFILES)}")
    if spec.id_token_signed_response_alg not in (None, *SIGNING_ALGORITHMS):
        raise RegistrationError("--id-token-alg", f"must be one of {', '.join(SIGNING_ALGORITHMS)}")
    if "authorization_code" in spec.grant_types and not spec.redirect_uris:
        raise RegistrationError("--redirect-uri", "authorization_code needs a redirect URI")
    if spec.scope and parse_scope(spec.scope) is None:
        raise RegistrationError("--scope", "scope tokens are printable ASCII without quotes")
    _check_each("--redirect-uri", spec.redirect_uris, redirect_uri_problem)
    _check_each("--post-logout-redirect-uri", spec.post_logout_redirect_uris, redirect_uri_problem)
    _check_each("--audience", spec.audiences, resource_uri_problem)
    if spec.backchannel_logout_uri is not None:
        _check_each(
            "--backchannel-logout-uri",
            [spec.backchannel_logout_uri],
            backchannel_logout_uri_problem,
        )
        if "authorization_code" not in spec.grant_types:
            # Only a client that signs users in has sessions to be told about.
            raise RegistrationError(
                "--backchannel-logout-uri", "back-channel logout needs authorization_code"
            )
    elif spec.backchannel_logout_session_required:
        raise RegistrationError(
            "--backchannel-logout-session-required", "needs --backchannel-logout-uri"
        )


def _check_auth_method(spec: ClientSpec) -> None:
    method = spec.token_endpoint_auth_method
    if method != PRIVATE_KEY_JWT and (spec.jwks is not None or spec.jwks_uri is not None):
        option = "--jwks" if spec.jwks is not None else "--jwks-uri"
        raise RegistrationError(option, f"keys are for --auth-method {PRIVATE_KEY_JWT}")
    if method is None:
        return
    # RFC 7591 §2: "none" is a public client, the secret methods and private_key_jwt
    # a confidential one.
    expected = ("none",) if spec.public else (*CONFIDENTIAL_AUTH_METHODS, PRIVATE_KEY_JWT)
    if method not in expected:
        raise RegistrationError(
            "token_endpoint_auth_method", f"must be one of {', '.join(expected)} for this client"
        )
    if method == PRIVATE_KEY_JWT:
        _check_keys(spec)


def _check_keys(spec: ClientSpec) -> None:
    """RFC 7591 §2, OIDC Core §9: a private_key_jwt client registers its public keys, as
    `jwks` or `jwks_uri` but never both."""
    if spec.jwks is not None and spec.jwks_uri is not None:
        raise RegistrationError("--jwks", "jwks and jwks_uri must not both be given")
    if spec.jwks is not None:
        if problem := jwks_problem(spec.jwks):
            raise RegistrationError("--jwks", problem)
    elif spec.jwks_uri is not None:
        _check_each("--jwks-uri", [spec.jwks_uri], jwks_uri_problem)
    else:
        raise RegistrationError(
            "--auth-method", f"{PRIVATE_KEY_JWT} needs the public keys: jwks or a jwks_uri"
        )


def _check_token_exchange(spec: ClientSpec) -> None:
    option = "--token-exchange-audience"
    if TOKEN_EXCHANGE in spec.grant_types and not spec.token_exchange_audiences:
        raise RegistrationError(option, f"{TOKEN_EXCHANGE} needs at least one audience")
    if spec.token_exchange_audiences and TOKEN_EXCHANGE not in spec.grant_types:
        raise RegistrationError(option, f"needs --grant-type {TOKEN_EXCHANGE}")
    _check_each(option, spec.token_exchange_audiences, resource_uri_problem)


def _check_each(option: str, values: list[str], problem_of: Callable[[str], str | None]) -> None:
    for value in values:
        if problem := problem_of(value):
            raise RegistrationError(option, f"{value!r} {problem}")

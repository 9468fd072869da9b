"""The FAPI 2.0 Security Profile (OpenID Foundation, final, 22 February 2025): which
clients it holds, and the rules it adds, each asked for here by the code that enforces it.

A client is held to it when it was created with `--profile fapi2` (or registered with
that profile) or when the server runs with AUTHSERVER_PROFILE=fapi2. Then (§5.3.2.1 and
§5.3.2.2 of the profile; docs/fapi.md lists every clause and where it is tested):
- authorization requests must be pushed (RFC 9126) and use PKCE S256, `response_type=code`;
- access tokens must be sender-constrained with DPoP (RFC 9449);
- the client authenticates with `private_key_jwt`, so it is confidential;
- authorization codes live at most 60 s;
- refresh tokens are not rotated (§5.3.2.1 item 10 and its Note 2);
- our JWTs are signed with PS256, ES256 or EdDSA (§5.4.1), never RS256.
"""

from collections.abc import Iterable
from datetime import timedelta
from typing import Protocol

FAPI2 = "fapi2"
# FAPI 2.0 §5.4.1: the only algorithms for JWTs created or processed.
FAPI2_ALGORITHMS = ("PS256", "ES256", "EdDSA")
# §5.3.2.1 item 12: authorization codes live at most 60 seconds.
MAX_CODE_LIFETIME = timedelta(seconds=60)
# §5.3.2.1 items 3 and 6: confidential clients authenticating with private_key_jwt
# (mutual TLS, the other method the profile allows, is not supported: docs/fapi.md).
CLIENT_AUTH_METHOD = "private_key_jwt"
# The grants a FAPI 2.0 client may hold: the code flow (the one the profile analyses),
# refresh, and client_credentials (§5.3.2.1 Note 3: other grants may follow the profile).
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})


class ProfiledClient(Protocol):
    profile: str | None
    require_par: bool
    require_dpop: bool


class ServerProfile(Protocol):
    profile: str
    require_par: bool
    authorization_code_ttl: timedelta


def held_to_fapi2(client: ProfiledClient, settings: ServerProfile) -> bool:
    return settings.profile == FAPI2 or client.profile == FAPI2


def par_required(client: ProfiledClient, settings: ServerProfile) -> bool:
    """RFC 9126 §5-6 (AUTHSERVER_REQUIRE_PAR, --require-par); FAPI 2.0 §5.3.2.2 item 3."""
    return settings.require_par or client.require_par or held_to_fapi2(client, settings)


def dpop_required(client: ProfiledClient, settings: ServerProfile) -> bool:
    """RFC 9449 §5 (--require-dpop); FAPI 2.0 §5.3.2.1 item 4: sender-constrained only."""
    return client.require_dpop or held_to_fapi2(client, settings)


def code_lifetime(client: ProfiledClient, settings: ServerProfile) -> timedelta:
    """AUTHSERVER_AUTHORIZATION_CODE_TTL, at most 60 s for a FAPI 2.0 client."""
    ttl = settings.authorization_code_ttl
    return min(ttl, MAX_CODE_LIFETIME) if held_to_fapi2(client, settings) else ttl


def rotates_refresh_tokens(client: ProfiledClient, settings: ServerProfile) -> bool:
    """RFC 9700 §4.14.2 rotation for everyone but FAPI 2.0 clients, whose refresh tokens
    are bound to an authenticated confidential client and are not rotated (FAPI 2.0
    §5.3.2.1 item 10, Note 2: a lost response must never strand the client)."""
    return not held_to_fapi2(client, settings)


def registration_problems(
    *,
    public: bool,
    auth_method: str | None,
    grant_types: Iterable[str],
    id_token_alg: str | None,
    signing_alg: str,
) -> list[tuple[str, str]]:
    """What keeps a client from being registered with the profile: (option, reason)."""
    problems: list[tuple[str, str]] = []
    if public or auth_method != CLIENT_AUTH_METHOD:
        problems.append(
            ("--auth-method", "a FAPI 2.0 client is confidential and uses private_key_jwt")
        )
    if extra := sorted(set(grant_types) - GRANT_TYPES):
        problems.append(("--grant-type", f"a FAPI 2.0 client cannot use {', '.join(extra)}"))
    if signing_alg not in FAPI2_ALGORITHMS:
        problems.append(
            (
                "--profile",
                f"the server signs with {signing_alg}; FAPI 2.0 needs AUTHSERVER_SIGNING_ALG "
                f"to be one of {', '.join(FAPI2_ALGORITHMS)}",
            )
        )
    if id_token_alg is not None and id_token_alg not in FAPI2_ALGORITHMS:
        problems.append(
            ("--id-token-alg", f"must be one of {', '.join(FAPI2_ALGORITHMS)} for FAPI 2.0")
        )
    return problems

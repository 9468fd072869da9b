"""`authserver clients ...`: register, list and remove OAuth clients."""

import json
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from authserver.audit import record_event
from authserver.cli.context import JsonOption, emit, transaction
from authserver.clients.models import GRANT_TYPE_SHORT_NAMES, Client
from authserver.clients.registration import (
    ClientSpec,
    RegistrationError,
    register_client,
    validate,
)
from authserver.clients.repository import ClientRepository
from authserver.errors import AuthserverError
from authserver.profiles.fapi2 import FAPI2, registration_problems
from authserver.settings import Settings, load_settings

app = typer.Typer(no_args_is_help=True, help="Register, list and remove clients.")

Repeated = Annotated[list[str] | None, typer.Option()]


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="A name people will recognise.")],
    grant_type: Annotated[
        list[str],
        typer.Option(
            help="authorization_code, client_credentials, refresh_token,"
            " urn:ietf:params:oauth:grant-type:device_code (or device_code),"
            " urn:ietf:params:oauth:grant-type:token-exchange (or token-exchange)."
        ),
    ],
    scope: Annotated[str, typer.Option(help='The scopes it may ask for: "a b c".')] = "",
    redirect_uri: Repeated = None,
    audience: Annotated[
        list[str] | None, typer.Option(help="A resource (RFC 8707) it may ask tokens for.")
    ] = None,
    post_logout_redirect_uri: Repeated = None,
    public: Annotated[bool, typer.Option("--public", help="No secret; PKCE only.")] = False,
    skip_consent: Annotated[
        bool, typer.Option("--skip-consent", help="A first-party app.")
    ] = False,
    introspect: Annotated[
        bool, typer.Option("--introspect", help="May introspect every token (a resource service).")
    ] = False,
    require_mfa: Annotated[
        bool,
        typer.Option("--require-mfa", help="Its users must prove a second factor (or a passkey)."),
    ] = False,
    backchannel_logout_uri: Annotated[
        str | None,
        typer.Option(help="Where Logout Tokens are POSTed (OIDC Back-Channel Logout 1.0)."),
    ] = None,
    backchannel_logout_session_required: Annotated[
        bool,
        typer.Option("--backchannel-logout-session-required", help="Logout Tokens must carry sid."),
    ] = False,
    token_exchange_audience: Annotated[
        list[str] | None,
        typer.Option(help="An audience it may exchange a user's token for (RFC 8693)."),
    ] = None,
    auth_method: Annotated[
        str | None,
        typer.Option(
            help="How it authenticates at the token endpoint: client_secret_basic,"
            " client_secret_post, private_key_jwt (needs --jwks or --jwks-uri), none."
        ),
    ] = None,
    jwks: Annotated[
        Path | None,
        typer.Option(help="A file holding its public keys as a JWK Set (private_key_jwt)."),
    ] = None,
    jwks_uri: Annotated[
        str | None, typer.Option(help="Where its JWK Set is published (private_key_jwt).")
    ] = None,
    require_par: Annotated[
        bool,
        typer.Option("--require-par", help="Authorization requests must come through /par."),
    ] = False,
    require_dpop: Annotated[
        bool,
        typer.Option("--require-dpop", help="Its access tokens must be DPoP-bound (RFC 9449)."),
    ] = False,
    profile: Annotated[
        str | None, typer.Option(help="fapi2: held to the FAPI 2.0 Security Profile.")
    ] = None,
    id_token_alg: Annotated[
        str | None,
        typer.Option(help="The alg of its id_tokens: RS256, PS256, ES256 or EdDSA."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a client; a confidential client's secret is printed once and never again."""
    spec = ClientSpec(
        name=name,
        grant_types=[
            GRANT_TYPE_SHORT_NAMES.get(g, g)
            for value in grant_type
            for g in re.split(r"[\s,]+", value)
            if g
        ],
        scope=scope,
        redirect_uris=redirect_uri or [],
        post_logout_redirect_uris=post_logout_redirect_uri or [],
        audiences=audience or [],
        public=public,
        skip_consent=skip_consent,
        require_mfa=require_mfa,
        can_introspect=introspect,
        backchannel_logout_uri=backchannel_logout_uri,
        backchannel_logout_session_required=backchannel_logout_session_required,
        token_exchange_audiences=token_exchange_audience or [],
        token_endpoint_auth_method=auth_method,
        jwks=read_jwks_file(jwks) if jwks is not None else None,
        jwks_uri=jwks_uri,
        require_par=require_par,
        require_dpop=require_dpop,
        profile=profile,
        id_token_signed_response_alg=id_token_alg,
    )
    try:
        validate(spec)  # a usage error is reported before the database is opened
    except RegistrationError as error:
        raise typer.BadParameter(str(error), param_hint=error.field) from None
    settings = load_settings()
    _check_id_token_alg(spec.id_token_signed_response_alg, settings)
    if FAPI2 in (spec.profile, settings.profile):
        for option, problem in registration_problems(
            public=spec.public,
            auth_method=spec.token_endpoint_auth_method,
            grant_types=spec.grant_types,
            id_token_alg=spec.id_token_signed_response_alg,
            signing_alg=settings.signing_alg,
        ):
            raise typer.BadParameter(problem, param_hint=option)
    with transaction() as session:
        client, secret = register_client(ClientRepository(session), spec)
        record_event(
            session,
            "client.created",
            client_id=client.client_id,
            name=client.name,
            grant_types=client.grant_types,
            public=client.is_public,
        )
        data = {**describe(client), "client_secret": secret}
    text = f"client_id: {client.client_id}"
    if secret:
        text += f"\nclient_secret: {secret}\n(the secret is shown only now; store it safely)"
    emit(as_json, data, text)


def _check_id_token_alg(alg: str | None, settings: Settings) -> None:
    """A client's id_tokens need a key of its alg: AUTHSERVER_SIGNING_ALG or an extra one."""
    if alg is not None and alg not in settings.signing_algorithms:
        raise typer.BadParameter(
            f"no signing key of {alg}: it is neither AUTHSERVER_SIGNING_ALG "
            f"({settings.signing_alg}) nor in AUTHSERVER_EXTRA_SIGNING_ALGS; add it there "
            "and restart the server first",
            param_hint="--id-token-alg",
        )


@app.command("list")
def list_clients(as_json: JsonOption = False) -> None:
    """Every registered client, oldest first."""
    with transaction() as session:
        clients = [describe(client) for client in ClientRepository(session).list()]
    lines = [
        f"{c['client_id']}  {c['name']}  [{' '.join(c['grant_types'])}]  scope: {c['scope']}"
        for c in clients
    ]
    emit(as_json, clients, "\n".join(lines) or "no clients")


# A client_id is base64url and may begin with "-": it must not be read as an option.
@app.command("delete", context_settings={"ignore_unknown_options": True})
def delete(client_id: str) -> None:
    """Remove a client; other processes stop accepting it within AUTHSERVER_CLIENT_CACHE_TTL."""
    with transaction() as session:
        if not ClientRepository(session).delete(client_id):
            raise AuthserverError(f"no client with client_id {client_id!r}")
        record_event(session, "client.deleted", client_id=client_id)
    typer.echo(f"deleted {client_id}")


def read_jwks_file(path: Path) -> dict[str, Any]:
    """The JWK Set in `path` (--jwks), or a usage error saying why it cannot be read."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        problem = f"cannot read a JSON JWK Set: {error}"
        raise typer.BadParameter(problem, param_hint="--jwks") from None
    if not isinstance(document, dict):
        raise typer.BadParameter("a JWK Set is a JSON object", param_hint="--jwks")
    return document


def describe(client: Client) -> dict[str, Any]:
    """A client's registration without its secret hash."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "public": client.is_public,
        "grant_types": client.grant_types,
        "scope": client.scope,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "audiences": client.audiences,
        "skip_consent": client.skip_consent,
        "require_mfa": client.require_mfa,
        "introspect": client.can_introspect,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "backchannel_logout_session_required": client.backchannel_logout_session_required,
        "token_exchange_audiences": client.token_exchange_audiences,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "require_par": client.require_par,
        "require_dpop": client.require_dpop,
        "profile": client.profile,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "created_at": client.created_at.isoformat(),
    }

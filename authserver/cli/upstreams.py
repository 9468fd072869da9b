"""`authserver upstreams ...`: the OpenID providers the login page offers ("Continue with ...")."""

import sys
from typing import Annotated, Any

import typer

from authserver.cli.context import JsonOption, emit, transaction
from authserver.errors import AuthserverError
from authserver.sealing import Sealer
from authserver.settings import load_settings
from authserver.upstream.configuration import (
    DEFAULT_SCOPE,
    ProviderSpec,
    ProviderSpecError,
    add_provider,
    remove_provider,
    validate,
)
from authserver.upstream.models import UpstreamProvider
from authserver.upstream.repository import ProviderRepository

app = typer.Typer(no_args_is_help=True, help="Upstream OpenID providers users may sign in with.")


@app.command("add")
def add(
    issuer: Annotated[str, typer.Option(help="The provider's issuer, exactly as it names itself.")],
    client_id: Annotated[str, typer.Option(help="Our client_id at the provider.")],
    client_secret_stdin: Annotated[
        bool,
        typer.Option(
            "--client-secret-stdin",
            help="Read the client secret from standard input (else a public client, PKCE only).",
        ),
    ] = False,
    name: Annotated[
        str | None, typer.Option(help="Short name, a-z 0-9 - _ (default: from the issuer's host).")
    ] = None,
    display_name: Annotated[
        str | None, typer.Option(help='The button says "Continue with <this>".')
    ] = None,
    scope: Annotated[str, typer.Option(help='The scopes asked for: "openid ...".')] = DEFAULT_SCOPE,
    link_by_verified_email: Annotated[
        bool,
        typer.Option(
            "--link-by-verified-email",
            help="Link a first sign-in to the local user with the same e-mail, if verified.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a provider; register AUTHSERVER_ISSUER/login/upstream/callback there as redirect URI."""
    settings = load_settings()
    secret = sys.stdin.read().removesuffix("\n") if client_secret_stdin else None
    spec = ProviderSpec(
        issuer, client_id, secret, name, display_name, scope, link_by_verified_email
    )
    try:
        spec = validate(spec, settings.development)
    except ProviderSpecError as error:
        raise typer.BadParameter(str(error), param_hint=_option(error.field)) from None
    passphrase = settings.keys_passphrase
    sealer = Sealer(passphrase.get_secret_value() if passphrase else None)
    with transaction(settings) as session:
        data = describe(add_provider(session, sealer, spec))
    text = (
        f"added {data['name']}: Continue with {data['display_name']}\n"
        f"redirect_uri to register at the provider: {settings.issuer}/login/upstream/callback"
    )
    emit(as_json, data, text)


@app.command("list")
def list_providers(as_json: JsonOption = False) -> None:
    """Every provider, by name (never its client secret)."""
    with transaction() as session:
        providers = [describe(p) for p in ProviderRepository(session).list()]
    lines = [
        f"{p['name']}  {p['display_name']}  {p['issuer']}  client_id: {p['client_id']}"
        for p in providers
    ]
    emit(as_json, providers, "\n".join(lines) or "no upstream providers")


@app.command("remove")
def remove(name: str) -> None:
    """Remove a provider; users it linked keep their accounts and links."""
    with transaction() as session:
        if not remove_provider(session, name):
            raise AuthserverError(f"no upstream provider named {name!r}")
    typer.echo(f"removed {name}")


def describe(provider: UpstreamProvider) -> dict[str, Any]:
    return {
        "name": provider.name,
        "display_name": provider.display_name,
        "issuer": provider.issuer,
        "client_id": provider.client_id,
        "confidential": provider.sealed_client_secret is not None,
        "scope": provider.scope,
        "link_by_verified_email": provider.link_by_verified_email,
        "created_at": provider.created_at.isoformat(),
    }


def _option(field: str) -> str:
    return "--client-secret-stdin" if field == "client_secret" else "--" + field.replace("_", "-")

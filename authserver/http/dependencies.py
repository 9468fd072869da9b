"""FastAPI dependencies: the services of the app, and the parsed OAuth form."""

from typing import Annotated

from fastapi import Depends, Request

from authserver.http.forms import read_oauth_form
from authserver.oauth import AuthorizationServer, FormRequest
from authserver.services import Services


def get_services(request: Request) -> Services:
    return request.app.state.services


def get_server(request: Request) -> AuthorizationServer:
    return request.app.state.services.oauth


async def oauth_request_from(request: Request) -> FormRequest:
    """The Authlib request for an OAuth form POST; raises `invalid_request` on a bad body."""
    pairs = await read_oauth_form(request)
    issuer = request.app.state.services.settings.issuer
    return FormRequest(request.method, issuer + request.url.path, request.headers, pairs)


AppServices = Annotated[Services, Depends(get_services)]
Server = Annotated[AuthorizationServer, Depends(get_server)]
OAuthRequest = Annotated[FormRequest, Depends(oauth_request_from)]

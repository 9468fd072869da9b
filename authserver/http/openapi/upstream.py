"""The OpenAPI description of sign-in with an upstream OpenID provider (http/upstream.py):
the login page's "Continue with ..." form and the provider's answer. HTML pages, for people."""

from authserver.http.openapi.pieces import (
    FORM_RULES,
    TEXT,
    VALUE,
    Schema,
    form_body,
    object_schema,
    page_answer,
    page_failure_answers,
    query_parameter,
    redirect_answer,
)

_REFUSED = page_answer("The sign-in could not go on: a page saying why.")


def upstream_paths() -> dict[str, Schema]:
    return {"/login/upstream/{name}/start": _begin(), "/login/upstream/callback": _callback()}


def _begin() -> Schema:
    form = object_schema(
        {
            "csrf_token": {**VALUE, "description": "From the login page."},
            "next": {**TEXT, "description": "A same-origin path to return to."},
        },
        ["csrf_token"],
        FORM_RULES,
    )
    name = {"name": "name", "in": "path", "required": True, "schema": TEXT}
    return {
        "post": {
            "summary": "Continue with an upstream provider",
            "operationId": "upstream_begin",
            "parameters": [{**name, "description": "The provider's name."}],
            "requestBody": form_body(form),
            "responses": {
                "303": redirect_answer("To the provider's authorization endpoint."),
                "400": page_answer("The form expired or could not be read."),
                "404": page_answer("No provider has this name."),
                "502": page_answer("The provider could not be reached, or its metadata is bad."),
                **page_failure_answers(),
            },
        }
    }


def _callback() -> Schema:
    parameters = [
        query_parameter("state", VALUE, "OIDC Core §3.1.2.5: as sent to the provider."),
        query_parameter("code", VALUE, "RFC 6749 §4.1.2: the authorization code."),
        query_parameter("error", VALUE, "RFC 6749 §4.1.2.1: the provider refused."),
        query_parameter("iss", VALUE, "RFC 9207: the provider's issuer."),
    ]
    return {
        "get": {
            "summary": "The upstream provider's answer",
            "operationId": "upstream_callback",
            "parameters": parameters,
            "responses": {
                "303": redirect_answer(
                    "Signed in: to where the sign-in began; or to the second step of it."
                ),
                "400": page_answer("An unknown, expired, replayed or foreign state."),
                "403": page_answer("Refused at the provider, or the local account is disabled."),
                "502": _REFUSED,
                **page_failure_answers(),
            },
        }
    }

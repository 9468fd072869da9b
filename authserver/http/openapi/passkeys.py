"""The OpenAPI description of the passkey ceremonies (WebAuthn, docs/login-and-sso.md): JSON
endpoints that /assets/passkeys.js calls from the login, second-step and account pages,
each with the page's CSRF token in `X-CSRF-Token`; and the account page's remove form."""

from authserver.http.openapi.pieces import (
    FORM_RULES,
    JSON_TYPE,
    NO_STORE,
    VALUE,
    Schema,
    error_answer,
    failure_answers,
    form_body,
    header_refs,
    json_answer,
    object_schema,
    page_answer,
    page_failure_answers,
    redirect_answer,
)

_CSRF_HEADER: Schema = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": True,
    "schema": VALUE,
    "description": "The page's CSRF token (its data-csrf-token).",
}
_PURPOSE: Schema = {"enum": ["sign-in", "second-factor"]}
_CREDENTIAL: Schema = {
    "type": "object",
    "description": "The browser's PublicKeyCredential as JSON (WebAuthn Level 3 toJSON()).",
}
_OPTIONS: Schema = {
    "type": "object",
    "description": "PublicKeyCredentialCreationOptions or ...RequestOptions as JSON.",
}
_ERRORS = ["invalid_request", "login_required", "access_denied"]


def passkey_paths() -> dict[str, Schema]:
    return {
        "/passkeys/registration/options": _ceremony(
            "passkey_registration_options",
            "Options to create a passkey (a signed-in user, recently)",
            object_schema({}, []),
            _OPTIONS,
        ),
        "/passkeys/registration": _ceremony(
            "passkey_registration",
            "Register the created passkey",
            object_schema({"name": {"type": "string"}, "credential": _CREDENTIAL}, ["credential"]),
            object_schema({"name": {"type": "string"}}, ["name"]),
        ),
        "/passkeys/authentication/options": _ceremony(
            "passkey_authentication_options",
            "Options to sign in with a passkey, alone or as the second step",
            object_schema({"purpose": _PURPOSE}, ["purpose"]),
            _OPTIONS,
        ),
        "/passkeys/authentication": _ceremony(
            "passkey_authentication",
            "Sign in with the passkey's assertion; sets the session cookie",
            object_schema(
                {"purpose": _PURPOSE, "credential": _CREDENTIAL, "next": {"type": "string"}},
                ["purpose", "credential"],
            ),
            object_schema({"location": {"type": "string"}}, ["location"]),
            "Set-Cookie",
        ),
        "/account/passkeys/remove": _remove(),
    }


def _ceremony(
    operation_id: str, summary: str, request: Schema, answer: Schema, *headers: str
) -> Schema:
    return {
        "post": {
            "summary": summary,
            "operationId": operation_id,
            "parameters": [_CSRF_HEADER],
            "requestBody": {"required": True, "content": {JSON_TYPE: {"schema": request}}},
            "responses": {
                "200": json_answer("The answer.", answer, header_refs(*NO_STORE, *headers)),
                "400": error_answer("Refused: the body, the token, the ceremony.", _ERRORS),
                **failure_answers(),
            },
        }
    }


def _remove() -> Schema:
    form = object_schema(
        {"csrf_token": {**VALUE, "description": "From the page."}, "credential_id": VALUE},
        ["csrf_token"],
        FORM_RULES,
    )
    return {
        "post": {
            "summary": "Remove one of the user's passkeys (a recent sign-in needed)",
            "operationId": "account_passkey_remove",
            "requestBody": form_body(form),
            "responses": {
                "303": redirect_answer("Back to the account page, or to the login page."),
                "400": page_answer(
                    "The form expired, could not be read, or names no passkey of the user's."
                ),
                "403": page_answer("The sign-in is too old: sign in again."),
                **page_failure_answers(),
            },
        }
    }

"""The OpenAPI description of the device flow (RFC 8628): /device_authorization and the
/device page; and the token endpoint's device code and token exchange grants."""

from authserver.clients.models import DEVICE_CODE, TOKEN_EXCHANGE
from authserver.http.openapi.pieces import (
    CLIENT,
    CLIENT_AUTH,
    FORM_RULES,
    NO_STORE,
    RESOURCES,
    TEXT,
    URI,
    VALUE,
    Schema,
    form_body,
    header_refs,
    json_answer,
    oauth_error_answers,
    object_schema,
    page_answer,
    page_failure_answers,
    query_parameter,
    redirect_answer,
)

_TOKEN_TYPES: Schema = {
    "enum": [
        "urn:ietf:params:oauth:token-type:access_token",
        "urn:ietf:params:oauth:token-type:jwt",
    ]
}
_NAMES: Schema = {"type": "array", "items": URI, "description": "RFC 8693 §2.1; may repeat."}


def grant_requests(grant: type) -> list[Schema]:
    """The token endpoint's request for each grant of this module; `grant` builds one
    from (grant type, fields, required fields)."""
    return [
        grant(DEVICE_CODE, {"device_code": VALUE, "resource": RESOURCES}, ["device_code"]),
        grant(
            TOKEN_EXCHANGE,
            {
                "subject_token": VALUE,
                "subject_token_type": _TOKEN_TYPES,
                "actor_token": VALUE,
                "actor_token_type": _TOKEN_TYPES,
                "requested_token_type": _TOKEN_TYPES,
                "resource": RESOURCES,
                "audience": _NAMES,
                "scope": TEXT,
            },
            ["subject_token", "subject_token_type"],
        ),
    ]


def device_paths() -> dict[str, Schema]:
    return {"/device_authorization": _device_authorization(), "/device": _device_page()}


def _device_authorization() -> Schema:
    request = object_schema(
        {"scope": TEXT, "resource": RESOURCES, **CLIENT}, [], f"RFC 8628 §3.1. {FORM_RULES}"
    )
    answer = object_schema(
        {
            "device_code": VALUE,
            "user_code": {"type": "string", "pattern": "^[BCDFGHJKLMNPQRSTVWXZ]{4}-[A-Z]{4}$"},
            "verification_uri": URI,
            "verification_uri_complete": URI,
            "expires_in": {"type": "integer", "minimum": 1},
            "interval": {"type": "integer", "minimum": 1},
        },
        [
            "device_code",
            "user_code",
            "verification_uri",
            "verification_uri_complete",
            "expires_in",
            "interval",
        ],
    )
    errors = ["invalid_request", "unauthorized_client", "invalid_scope", "invalid_target"]
    return {
        "post": {
            "summary": "Device authorization (RFC 8628 §3.1)",
            "operationId": "device_authorization",
            "security": CLIENT_AUTH,
            "x-client-authentication": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            "requestBody": form_body(request, {"resource": {"style": "form", "explode": True}}),
            "responses": {
                "200": json_answer("RFC 8628 §3.2.", answer, header_refs(*NO_STORE)),
                **oauth_error_answers(errors),
            },
        }
    }


def _device_page() -> Schema:
    form = object_schema(
        {
            "csrf_token": {**VALUE, "description": "From the page."},
            "user_code": {**TEXT, "description": "Any case; spaces and dashes ignored."},
            "decision": {"enum": ["approve", "deny"]},
            "decision_token": {**VALUE, "description": "From the confirmation page."},
        },
        ["csrf_token"],
        FORM_RULES,
    )
    signed_out = redirect_answer("Not signed in: to the login page, coming back here.")
    return {
        "get": {
            "summary": "Enter or confirm a device's user code (RFC 8628 §3.3)",
            "operationId": "device_page",
            "parameters": [
                query_parameter("user_code", TEXT, "From verification_uri_complete (§3.3.1).")
            ],
            "responses": {
                "200": page_answer("The code form, or the confirmation for a live code."),
                "303": signed_out,
                "429": page_answer("Too many codes tried; wait.", "Retry-After"),
                **page_failure_answers(),
            },
        },
        "post": {
            "summary": "Look a code up, or approve or deny it",
            "operationId": "device_decision",
            "requestBody": form_body(form),
            "responses": {
                "200": page_answer("The confirmation, the answer, or the form with an error."),
                "303": signed_out,
                "400": page_answer("The form expired or could not be read."),
                "429": page_answer("Too many codes tried; wait.", "Retry-After"),
                **page_failure_answers(),
            },
        },
    }

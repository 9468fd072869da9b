"""The OpenAPI description of the pushed authorization request endpoint (RFC 9126 §2)."""

from authserver.http.openapi.pieces import (
    CLIENT,
    CLIENT_AUTH,
    FORM_RULES,
    NO_STORE,
    Schema,
    form_body,
    header_refs,
    json_answer,
    oauth_error_answers,
    object_schema,
)
from authserver.par.endpoint import PAR_PATH

# Set by this server on /authorize, never pushed.
_NOT_PUSHED = frozenset({"request_uri", "sign_in_after", "account_chosen", "pushed_until"})


def par_paths(
    authorization: dict[str, tuple[Schema, str]], required: list[str]
) -> dict[str, Schema]:
    """/par, whose form is the authorization request (`authorization`, with the names
    `required`) and the client's credentials."""
    fields = {
        name: {**schema, "description": text}
        for name, (schema, text) in authorization.items()
        if name not in _NOT_PUSHED
    }
    request = object_schema(
        {**fields, **CLIENT},
        required,
        "RFC 9126 §2.1: the parameters of an authorization request; request_uri is refused. "
        + FORM_RULES,
    )
    answer = object_schema(
        {
            "request_uri": {
                "type": "string",
                "pattern": "^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$",
                "description": "For /authorize, with client_id, once.",
            },
            "expires_in": {"type": "integer", "minimum": 1, "maximum": 60},
        },
        ["request_uri", "expires_in"],
    )
    errors = [
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "invalid_target",
        "request_not_supported",
    ]
    return {
        PAR_PATH: {
            "post": {
                "summary": "Pushed authorization request (RFC 9126 §2)",
                "description": "Checked as /authorize checks a request before any user "
                "interaction; the client then sends the browser to /authorize with only "
                "client_id and the request_uri (RFC 9126 §4).",
                "operationId": "pushed_authorization_request",
                "security": CLIENT_AUTH,
                "x-client-authentication": [
                    "client_secret_basic",
                    "client_secret_post",
                    "private_key_jwt",
                    "none",
                ],
                "requestBody": form_body(request),
                "responses": {
                    "201": json_answer("RFC 9126 §2.2.", answer, header_refs(*NO_STORE)),
                    **oauth_error_answers(errors),
                },
            }
        }
    }

"""The OpenAPI description of /register (RFC 7591 §3) and /register/{client_id} (RFC 7592 §2)."""

from authserver.http.openapi.pieces import (
    JSON_TYPE,
    NO_STORE,
    TEXT,
    URI,
    VALUE,
    Schema,
    error_answer,
    failure_answers,
    header_refs,
    json_answer,
    object_schema,
    ref,
)

_STRINGS: Schema = {"type": "array", "items": TEXT}
_URIS: Schema = {"type": "array", "items": URI}
_AUTH_METHOD: Schema = {
    "enum": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
}
_GRANT_TYPES: Schema = {
    "type": "array",
    "items": {"enum": ["authorization_code", "refresh_token", "client_credentials"]},
}
_RESPONSE_TYPES: Schema = {"type": "array", "items": {"const": "code"}}
_JWKS: Schema = object_schema(
    {"keys": {"type": "array", "items": {"type": "object"}}},
    ["keys"],
    "RFC 7517 §5: public keys only.",
)
_METADATA: dict[str, Schema] = {
    "redirect_uris": _URIS,
    "token_endpoint_auth_method": _AUTH_METHOD,
    "grant_types": _GRANT_TYPES,
    "response_types": _RESPONSE_TYPES,
    "client_name": TEXT,
    "client_uri": URI,
    "logo_uri": URI,
    "tos_uri": URI,
    "policy_uri": URI,
    "contacts": _STRINGS,
    "scope": TEXT,
    "jwks_uri": URI,
    "jwks": _JWKS,
    "software_id": TEXT,
    "software_version": TEXT,
    "post_logout_redirect_uris": _URIS,
}
_REGISTRATION_ERRORS = ["invalid_redirect_uri", "invalid_client_metadata"]


def registration_schemas() -> dict[str, Schema]:
    return {
        "ClientMetadata": object_schema(
            {
                **_METADATA,
                "client_id": {**VALUE, "description": "An update: this client's, required."},
                "client_secret": {**VALUE, "description": "An update: must match, if sent."},
            },
            [],
            "RFC 7591 §2: every field optional; a field not listed here is ignored.",
        ),
        "ClientInformation": object_schema(
            {
                **_METADATA,
                "client_id": VALUE,
                "client_secret": {**VALUE, "description": "Only in the registration response."},
                "client_id_issued_at": {"type": "integer"},
                "client_secret_expires_at": {"const": 0},
                "registration_access_token": VALUE,
                "registration_client_uri": URI,
            },
            [
                "client_id",
                "client_id_issued_at",
                "client_name",
                "grant_types",
                "response_types",
                "token_endpoint_auth_method",
                "redirect_uris",
                "scope",
                "registration_access_token",
                "registration_client_uri",
            ],
            "RFC 7591 §3.2.1 and RFC 7592 §3: every registered value, defaults included.",
        ),
    }


def registration_paths() -> dict[str, Schema]:
    client_id = {"name": "client_id", "in": "path", "required": True, "schema": VALUE}
    return {
        "/register": {
            "post": {
                "summary": "Dynamic client registration (RFC 7591 §3)",
                "description": "AUTHSERVER_REGISTRATION=protected needs an initial access "
                "token (`authserver registration-tokens create`); open needs none.",
                "operationId": "register",
                "security": [{"initial_access_token": []}, {}],
                "requestBody": _metadata_body(),
                "responses": {
                    "201": _information("RFC 7591 §3.2.1: the client, with its secret."),
                    **_refusals(with_body=True),
                    "429": error_answer(
                        "Over AUTHSERVER_REGISTRATION_RATE_LIMIT from this address (RFC 6585 §4).",
                        ["temporarily_unavailable"],
                        "Retry-After",
                    ),
                },
            }
        },
        "/register/{client_id}": {
            "get": _management("read", "RFC 7592 §2.1: read the registration", client_id),
            "put": {
                **_management("update", "RFC 7592 §2.2: replace the registration", client_id),
                "requestBody": _metadata_body(),
                "responses": {
                    "200": _information("The registration as it now stands."),
                    **_refusals(with_body=True),
                },
            },
            "delete": {
                **_management("delete", "RFC 7592 §2.3: delete the client", client_id),
                "responses": {
                    "204": {
                        "description": "Deleted; every token it held is revoked.",
                        "headers": header_refs(*NO_STORE),
                    },
                    **_refusals(with_body=False),
                },
            },
        },
    }


def _management(action: str, summary: str, client_id: Schema) -> Schema:
    return {
        "summary": summary,
        "operationId": f"registration_{action}",
        "security": [{"registration_access_token": []}],
        "parameters": [client_id],
        "responses": {
            "200": _information("RFC 7592 §3: the registration."),
            **_refusals(with_body=False),
        },
    }


def _metadata_body() -> Schema:
    return {
        "required": True,
        "content": {JSON_TYPE: {"schema": ref("schemas", "ClientMetadata")}},
    }


def _information(description: str) -> Schema:
    return json_answer(description, ref("schemas", "ClientInformation"), header_refs(*NO_STORE))


def _refusals(*, with_body: bool) -> dict[str, Schema]:
    answers = {
        "401": error_answer(
            "RFC 6750 §3.1: no bearer token, or not one for this (RFC 7592 §2: an unknown "
            "client is no different).",
            ["invalid_token"],
            **{"WWW-Authenticate": ref("headers", "BearerChallenge")},
        ),
        "404": error_answer("AUTHSERVER_REGISTRATION=off.", ["not_found"]),
        **failure_answers(),
    }
    if with_body:
        answers["400"] = error_answer(
            "RFC 7591 §3.2.2: a field is invalid; or the body is no JSON object of at most 64 KiB.",
            _REGISTRATION_ERRORS,
        )
    return answers

"""The component schemas of the OpenAPI description."""

from authserver.discovery import server_metadata
from authserver.http.openapi.pieces import (
    TEXT,
    URI,
    VALUE,
    Schema,
    object_schema,
)
from authserver.http.openapi.registration import registration_schemas
from authserver.settings import Settings

# -- Schemas -------------------------------------------------------------------------------


def component_schemas(settings: Settings) -> dict[str, Schema]:
    strings = {"type": "array", "items": TEXT}
    number = {"type": "integer"}
    return {
        "Error": object_schema(
            {
                "error": {"type": "string", "pattern": "^[a-z_]+$"},
                # RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E.
                "error_description": {
                    "type": "string",
                    "pattern": "^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]*$",
                },
                "error_uri": URI,
            },
            ["error"],
            "RFC 6749 §5.2.",
        ),
        "TokenResponse": object_schema(
            {
                "access_token": {**TEXT, "description": "An RFC 9068 JWT."},
                "token_type": {
                    "enum": ["Bearer", "DPoP"],
                    "description": "RFC 9449 §5: DPoP when bound to the request's proof key.",
                },
                "expires_in": {"type": "integer", "minimum": 1},
                "scope": TEXT,
                "refresh_token": {**TEXT, "description": "Opaque; each use returns a new one."},
                "id_token": {**TEXT, "description": "OIDC Core §2, when openid was granted."},
                "issued_token_type": {**TEXT, "description": "RFC 8693 §2.2.1: token exchange."},
            },
            ["access_token", "token_type", "expires_in"],
        ),
        "Introspection": {
            "oneOf": [
                {
                    **object_schema({"active": {"const": False}}, ["active"]),
                    "additionalProperties": False,
                },
                object_schema(
                    {
                        "active": {"const": True},
                        "scope": TEXT,
                        "client_id": TEXT,
                        "sub": TEXT,
                        "aud": {"oneOf": [TEXT, strings]},
                        "iss": URI,
                        "exp": number,
                        "iat": number,
                        "jti": TEXT,
                        "token_type": {"enum": ["Bearer", "DPoP", "refresh_token"]},
                        # RFC 9449 §6.2: the DPoP key a token is bound to.
                        "cnf": object_schema({"jkt": TEXT}, ["jkt"]),
                    },
                    ["active", "client_id", "sub", "iss", "exp", "iat", "token_type"],
                ),
            ]
        },
        "UserInfo": object_schema(
            {
                "sub": TEXT,
                "preferred_username": TEXT,
                "name": TEXT,
                "updated_at": number,
                "email": TEXT,
                "email_verified": {"type": "boolean"},
            },
            ["sub"],
            "OIDC Core §5.1: profile and email claims only with those scopes.",
        ),
        "Metadata": _metadata_schema(settings),
        "Jwks": object_schema(
            {
                "keys": {
                    "type": "array",
                    "items": object_schema(
                        {
                            "kty": {"enum": ["RSA", "EC", "OKP"]},
                            "kid": VALUE,
                            "use": {"const": "sig"},
                            "alg": {"enum": ["RS256", "PS256", "ES256", "EdDSA"]},
                            "n": TEXT,
                            "e": TEXT,
                            "crv": {"enum": ["P-256", "Ed25519"]},
                            "x": TEXT,
                            "y": TEXT,
                        },
                        ["kty", "kid", "use", "alg"],
                    ),
                }
            },
            ["keys"],
        ),
        "Readiness": object_schema(
            {
                "status": {"enum": ["ready", "unavailable"]},
                "checks": object_schema(
                    {"database": {"type": "boolean"}, "signing_key": {"type": "boolean"}},
                    ["database", "signing_key"],
                ),
                "details": {"type": "object", "additionalProperties": TEXT},
            },
            ["status", "checks"],
        ),
        **registration_schemas(),
    }


def _metadata_schema(settings: Settings) -> Schema:
    """Every field this server publishes, typed from what it publishes."""
    kinds = {str: TEXT, bool: {"type": "boolean"}, list: {"type": "array", "items": TEXT}}
    published = server_metadata(settings)
    properties = {name: kinds[type(value)] for name, value in published.items()}
    # RFC 8414 §2 and OIDC Discovery §3: the REQUIRED ones.
    required = ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"]
    required += ["response_types_supported", "subject_types_supported"]
    required += ["id_token_signing_alg_values_supported"]
    return object_schema(properties, required)

"""Reusable pieces of the OpenAPI description: media types, headers, errors, forms."""

from typing import Any

Schema = dict[str, Any]

FORM = "application/x-www-form-urlencoded"
JSON_TYPE = "application/json"
HTML_TYPE = "text/html"
TEXT: Schema = {"type": "string"}
VALUE: Schema = {"type": "string", "minLength": 1}  # RFC 6749 §3.1: empty counts as absent
URI: Schema = {"type": "string", "format": "uri"}
RESOURCES: Schema = {
    "type": "array",
    "items": URI,
    "description": "RFC 8707 §2: the audience asked for; may repeat.",
}
CLIENT: dict[str, Schema] = {
    "client_id": {
        **VALUE,
        "maxLength": 64,
        "description": "client_secret_post, or a public client; with private_key_jwt optional.",
    },
    "client_secret": {**VALUE, "description": "client_secret_post (RFC 6749 §2.3.1)."},
    "client_assertion_type": {
        "const": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "description": "private_key_jwt (RFC 7523 §2.2), with client_assertion.",
    },
    "client_assertion": {
        **VALUE,
        "maxLength": 8192,
        "description": "private_key_jwt: a JWT signed with a registered key (RFC 7523 §3).",
    },
}
FORM_RULES = (
    "At most 16 KiB and 64 fields, UTF-8; a repeated parameter (other than `resource` and "
    "`audience`) or a NUL is `invalid_request`; a parameter without a value counts as absent."
)


# -- Reusable pieces -----------------------------------------------------------------------


def ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def header(description: str, schema: Schema, *, required: bool = True) -> Schema:
    return {"description": description, "required": required, "schema": schema}


HEADERS: dict[str, Schema] = {
    "RequestId": header(
        "The request's id, in every log line of it.",
        {"type": "string", "pattern": "^[A-Za-z0-9._:-]{8,128}$"},
    ),
    "NoStore": header("RFC 6749 §5.1: never cached.", {"const": "no-store"}),
    "NoCache": header("HTTP/1.0 caches: never cached.", {"const": "no-cache"}),
    "RetryAfter": header("RFC 9110 §10.2.3: seconds to wait.", {"type": "integer", "minimum": 1}),
    "BasicChallenge": header(
        "RFC 6749 §5.2: the Basic scheme, with the error.", {"type": "string", "pattern": "^Basic "}
    ),
    "BearerChallenge": header(
        "RFC 6750 §3: `Bearer` alone without a token, else with `error`; RFC 9449 §7.1: "
        "`DPoP` with `error` and `algs` for a request with the DPoP scheme.",
        {"type": "string", "pattern": '^(Bearer|DPoP)( [a-z_]+="[^"]*"(, [a-z_]+="[^"]*")*)?'},
    ),
    "Location": header("Where the browser goes next.", URI),
    "SetCookie": header(
        "The CSRF or sign-in cookie (HttpOnly, SameSite=Lax).", TEXT, required=False
    ),
    "Csp": header("SECURITY-CHECKLIST: no script, no framing.", {"type": "string"}),
    "FrameOptions": header("No framing.", {"const": "DENY"}),
    "NoReferrer": header("No referrer.", {"const": "no-referrer"}),
    "NoSniff": header("No sniffing.", {"const": "nosniff"}),
    "AllowOrigin": header("CORS, when the request has an Origin.", {"const": "*"}, required=False),
    "ExposeHeaders": header("CORS: headers a page may read.", TEXT, required=False),
}

SECURITY_SCHEMES: dict[str, Schema] = {
    "client_secret_basic": {
        "type": "http",
        "scheme": "basic",
        "description": "RFC 6749 §2.3.1: client_id and client_secret, each form-urlencoded. "
        "client_secret_post (both in the form) is the other way; never both.",
    },
    "access_token": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT (RFC 9068)",
        "description": "RFC 6750 §2.1: an access token of this issuer whose scope has openid.",
    },
    "metrics_token": {
        "type": "http",
        "scheme": "bearer",
        "description": "AUTHSERVER_METRICS_TOKEN, when one is set.",
    },
    "initial_access_token": {
        "type": "http",
        "scheme": "bearer",
        "description": "RFC 7591 §3: from `authserver registration-tokens create`; required "
        "when AUTHSERVER_REGISTRATION=protected.",
    },
    "registration_access_token": {
        "type": "http",
        "scheme": "bearer",
        "description": "RFC 7592 §3: from the client's registration response.",
    },
}

# OpenAPI has no scheme for credentials in the body: `{}` stands for client_secret_post or,
# where allowed, a public client naming itself with client_id (RFC 6749 §2.1).
CLIENT_AUTH = [{"client_secret_basic": []}, {}]


def header_refs(*names: str, **extra: Schema) -> dict[str, Schema]:
    known = {
        "X-Request-ID": "RequestId",
        "Cache-Control": "NoStore",
        "Pragma": "NoCache",
        "Retry-After": "RetryAfter",
        "Location": "Location",
        "Set-Cookie": "SetCookie",
        "Access-Control-Allow-Origin": "AllowOrigin",
        "Access-Control-Expose-Headers": "ExposeHeaders",
    }
    chosen = {"X-Request-ID": ref("headers", "RequestId")}
    chosen.update({name: ref("headers", known[name]) for name in names})
    chosen.update(extra)
    return chosen


CORS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers")
NO_STORE = ("Cache-Control", "Pragma")
PAGE_HEADERS = {
    "Content-Security-Policy": ref("headers", "Csp"),
    "X-Frame-Options": ref("headers", "FrameOptions"),
    "Referrer-Policy": ref("headers", "NoReferrer"),
    "X-Content-Type-Options": ref("headers", "NoSniff"),
}


def json_answer(description: str, schema: Schema, headers: dict[str, Schema]) -> Schema:
    return {
        "description": description,
        "headers": headers,
        "content": {JSON_TYPE: {"schema": schema}},
    }


def error_answer(description: str, codes: list[str], *names: str, **extra: Schema) -> Schema:
    """RFC 6749 §5.2: the error JSON, never cached, with these codes only."""
    schema = {"allOf": [ref("schemas", "Error"), {"properties": {"error": {"enum": codes}}}]}
    return json_answer(description, schema, header_refs(*NO_STORE, *names, **extra))


def oauth_error_answers(bad_request: list[str], *cors: str) -> dict[str, Schema]:
    """The errors of /token, /revoke and /introspect."""
    return {
        "400": error_answer("The request is malformed or refused.", bad_request, *cors),
        "401": error_answer(
            "Client authentication is missing or failed (RFC 6749 §5.2).",
            ["invalid_client"],
            *cors,
            **{"WWW-Authenticate": ref("headers", "BasicChallenge")},
        ),
        "429": error_answer(
            "The client is over its rate (AUTHSERVER_CLIENT_RATE_LIMIT); RFC 6585 §4.",
            ["temporarily_unavailable"],
            "Retry-After",
            *cors,
        ),
        **failure_answers(*cors),
    }


def failure_answers(*cors: str) -> dict[str, Schema]:
    return {
        "500": error_answer(
            "An unexpected failure; the cause is only logged.", ["server_error"], *cors
        ),
        "503": error_answer(
            "The database is unreachable; retry shortly.",
            ["temporarily_unavailable"],
            "Retry-After",
            *cors,
        ),
    }


def page_answer(description: str, *names: str) -> Schema:
    headers = header_refs("Cache-Control", "Set-Cookie", *names, **PAGE_HEADERS)
    return {
        "description": description,
        "headers": headers,
        "content": {HTML_TYPE: {"schema": TEXT}},
    }


def page_failure_answers() -> dict[str, Schema]:
    return {
        "500": page_answer("An unexpected failure (an HTML page)."),
        "503": page_answer("The database is unreachable (an HTML page).", "Retry-After"),
    }


def redirect_answer(description: str, *names: str, **extra: Schema) -> Schema:
    return {
        "description": description,
        "headers": header_refs("Location", "Cache-Control", "Set-Cookie", *names, **extra),
    }


def form_body(schema: Schema, encoding: dict[str, Schema] | None = None) -> Schema:
    media: Schema = {"schema": schema}
    if encoding:
        media["encoding"] = encoding
    return {"required": True, "content": {FORM: media}}


def query_parameter(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    parameter = {"name": name, "in": "query", "required": required, "schema": schema}
    return {**parameter, "description": description}


def object_schema(
    properties: dict[str, Schema], required: list[str], description: str = ""
) -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "required": required}
    return {**schema, "description": description} if description else schema

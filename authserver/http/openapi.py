"""The OpenAPI 3.1 description of every endpoint (GET /openapi.json), written by hand.

FastAPI's generated document would be wrong here: the routes take a bare `Request` and read
their forms strictly themselves (RFC 6749 §3.1), and the hot endpoints are answered in front
of FastAPI (`http.hot`). So every operation is described below as it is on the wire: form
bodies, client authentication, and every status it can return, with the RFC 6749 §5.2 error
codes of that endpoint, RFC 6750 §3 challenges, 429 and 503 with Retry-After, HTML pages and
redirects. Built once per app, on the first request, and kept as bytes.
"""

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from authserver import __version__
from authserver.discovery import server_metadata
from authserver.http.cors import CORS_PATHS
from authserver.settings import Settings

router = APIRouter()

Schema = dict[str, Any]

FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"
_HTML = "text/html"
_TEXT: Schema = {"type": "string"}
_VALUE: Schema = {"type": "string", "minLength": 1}  # RFC 6749 §3.1: empty counts as absent
_URI: Schema = {"type": "string", "format": "uri"}
_RESOURCES: Schema = {
    "type": "array",
    "items": _URI,
    "description": "RFC 8707 §2: the audience asked for; may repeat.",
}
_CLIENT: dict[str, Schema] = {
    "client_id": {
        **_VALUE,
        "maxLength": 64,
        "description": "client_secret_post, or a public client.",
    },
    "client_secret": {**_VALUE, "description": "client_secret_post (RFC 6749 §2.3.1)."},
}
_FORM_RULES = (
    "At most 16 KiB and 64 fields, UTF-8; a repeated parameter (other than `resource`) or a "
    "NUL is `invalid_request`; a parameter without a value counts as absent."
)


@router.get("/openapi.json", include_in_schema=False)
async def openapi_json(request: Request) -> Response:
    state = request.app.state
    document: bytes | None = getattr(state, "openapi_document", None)
    if document is None:
        document = state.openapi_document = openapi_document(state.services.settings)
    return Response(document, media_type=_JSON, headers={"Cache-Control": "public, max-age=3600"})


def openapi_document(settings: Settings) -> bytes:
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "authserver",
            "version": __version__,
            "description": "OAuth 2.0 / OpenID Connect authorization server. "
            "Discovery is the source of truth for endpoint URLs.",
        },
        "servers": [{"url": settings.issuer}],
        "paths": _paths(),
        "components": {
            "schemas": _schemas(settings),
            "headers": _HEADERS,
            "securitySchemes": _SECURITY_SCHEMES,
        },
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


# -- Reusable pieces -----------------------------------------------------------------------


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _header(description: str, schema: Schema, *, required: bool = True) -> Schema:
    return {"description": description, "required": required, "schema": schema}


_HEADERS: dict[str, Schema] = {
    "RequestId": _header(
        "The request's id, in every log line of it.",
        {"type": "string", "pattern": "^[A-Za-z0-9._:-]{8,128}$"},
    ),
    "NoStore": _header("RFC 6749 §5.1: never cached.", {"const": "no-store"}),
    "NoCache": _header("HTTP/1.0 caches: never cached.", {"const": "no-cache"}),
    "RetryAfter": _header("RFC 9110 §10.2.3: seconds to wait.", {"type": "integer", "minimum": 1}),
    "BasicChallenge": _header(
        "RFC 6749 §5.2: the Basic scheme, with the error.", {"type": "string", "pattern": "^Basic "}
    ),
    "BearerChallenge": _header(
        "RFC 6750 §3: `Bearer` alone without a token, else with `error`.",
        {"type": "string", "pattern": '^Bearer( error="[a-z_]+"(, scope="openid")?)?$'},
    ),
    "Location": _header("Where the browser goes next.", _URI),
    "SetCookie": _header(
        "The CSRF or sign-in cookie (HttpOnly, SameSite=Lax).", _TEXT, required=False
    ),
    "Csp": _header("SECURITY-CHECKLIST: no script, no framing.", {"type": "string"}),
    "FrameOptions": _header("No framing.", {"const": "DENY"}),
    "NoReferrer": _header("No referrer.", {"const": "no-referrer"}),
    "NoSniff": _header("No sniffing.", {"const": "nosniff"}),
    "AllowOrigin": _header("CORS, when the request has an Origin.", {"const": "*"}, required=False),
    "ExposeHeaders": _header("CORS: headers a page may read.", _TEXT, required=False),
}

_SECURITY_SCHEMES: dict[str, Schema] = {
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
}

# OpenAPI has no scheme for credentials in the body: `{}` stands for client_secret_post or,
# where allowed, a public client naming itself with client_id (RFC 6749 §2.1).
_CLIENT_AUTH = [{"client_secret_basic": []}, {}]


def _headers(*names: str, **extra: Schema) -> dict[str, Schema]:
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
    chosen = {"X-Request-ID": _ref("headers", "RequestId")}
    chosen.update({name: _ref("headers", known[name]) for name in names})
    chosen.update(extra)
    return chosen


_CORS = ("Access-Control-Allow-Origin", "Access-Control-Expose-Headers")
_NO_STORE = ("Cache-Control", "Pragma")
_PAGE_HEADERS = {
    "Content-Security-Policy": _ref("headers", "Csp"),
    "X-Frame-Options": _ref("headers", "FrameOptions"),
    "Referrer-Policy": _ref("headers", "NoReferrer"),
    "X-Content-Type-Options": _ref("headers", "NoSniff"),
}


def _json(description: str, schema: Schema, headers: dict[str, Schema]) -> Schema:
    return {"description": description, "headers": headers, "content": {_JSON: {"schema": schema}}}


def _error(description: str, codes: list[str], *names: str, **extra: Schema) -> Schema:
    """RFC 6749 §5.2: the error JSON, never cached, with these codes only."""
    schema = {"allOf": [_ref("schemas", "Error"), {"properties": {"error": {"enum": codes}}}]}
    return _json(description, schema, _headers(*_NO_STORE, *names, **extra))


def _oauth_errors(bad_request: list[str], *cors: str) -> dict[str, Schema]:
    """The errors of /token, /revoke and /introspect."""
    return {
        "400": _error("The request is malformed or refused.", bad_request, *cors),
        "401": _error(
            "Client authentication is missing or failed (RFC 6749 §5.2).",
            ["invalid_client"],
            *cors,
            **{"WWW-Authenticate": _ref("headers", "BasicChallenge")},
        ),
        "429": _error(
            "The client is over its rate (AUTHSERVER_CLIENT_RATE_LIMIT); RFC 6585 §4.",
            ["temporarily_unavailable"],
            "Retry-After",
            *cors,
        ),
        **_failures(*cors),
    }


def _failures(*cors: str) -> dict[str, Schema]:
    return {
        "500": _error("An unexpected failure; the cause is only logged.", ["server_error"], *cors),
        "503": _error(
            "The database is unreachable; retry shortly.",
            ["temporarily_unavailable"],
            "Retry-After",
            *cors,
        ),
    }


def _page(description: str, *names: str) -> Schema:
    headers = _headers("Cache-Control", "Set-Cookie", *names, **_PAGE_HEADERS)
    return {"description": description, "headers": headers, "content": {_HTML: {"schema": _TEXT}}}


def _page_failures() -> dict[str, Schema]:
    return {
        "500": _page("An unexpected failure (an HTML page)."),
        "503": _page("The database is unreachable (an HTML page).", "Retry-After"),
    }


def _redirect(description: str, *names: str, **extra: Schema) -> Schema:
    return {
        "description": description,
        "headers": _headers("Location", "Cache-Control", "Set-Cookie", *names, **extra),
    }


def _form(schema: Schema, encoding: dict[str, Schema] | None = None) -> Schema:
    media: Schema = {"schema": schema}
    if encoding:
        media["encoding"] = encoding
    return {"required": True, "content": {FORM: media}}


def _query(name: str, schema: Schema, description: str, required: bool = False) -> Schema:
    parameter = {"name": name, "in": "query", "required": required, "schema": schema}
    return {**parameter, "description": description}


def _object(properties: dict[str, Schema], required: list[str], description: str = "") -> Schema:
    schema: Schema = {"type": "object", "properties": properties, "required": required}
    return {**schema, "description": description} if description else schema


# -- Operations ----------------------------------------------------------------------------


_RESOURCE_ENCODING = {"resource": {"style": "form", "explode": True}}
_AUTHORIZATION: dict[str, tuple[Schema, str]] = {
    "response_type": ({"const": "code"}, "RFC 6749 §4.1.1: only the code flow."),
    "client_id": (_VALUE, "A registered client."),
    "redirect_uri": (_URI, "RFC 9700 §2.1: exactly one of the client's registered URIs."),
    "scope": (_TEXT, "Space-separated; openid for an id_token."),
    "state": (_TEXT, "Echoed in the redirect."),
    "nonce": ({"type": "string", "maxLength": 512}, "OIDC Core §3.1.2.1: echoed in the id_token."),
    "prompt": (_TEXT, "none, login, consent, select_account; none stands alone."),
    "max_age": ({"type": "string", "pattern": "^[0-9]{1,10}$"}, "Seconds since sign-in."),
    "code_challenge": (
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
        "RFC 7636 §4.2: BASE64URL(SHA256(code_verifier)), required.",
    ),
    "code_challenge_method": ({"const": "S256"}, "RFC 7636: S256 only, required."),
    "sign_in_after": (_TEXT, "Set by this server on the way back from the login page."),
}
_AUTHORIZATION_REQUIRED = [
    "response_type",
    "client_id",
    "redirect_uri",
    "code_challenge",
    "code_challenge_method",
]


def _authorize_responses() -> dict[str, Schema]:
    return {
        "200": _page("The consent page, when the user has not yet approved these scopes."),
        "302": _redirect(
            "To the verified redirect_uri with `code`, or `error` (RFC 6749 §4.1.2.1): "
            "invalid_request, unauthorized_client, unsupported_response_type, invalid_scope, "
            "access_denied, login_required or consent_required (OIDC Core §3.1.2.6); with "
            "`state` and `iss` (RFC 9207).",
            **{"Referrer-Policy": _ref("headers", "NoReferrer")},
        ),
        "303": _redirect("To the login page first, coming back here afterwards."),
        "400": _page(
            "An error page: client_id or redirect_uri cannot be verified, so no redirect "
            "(RFC 6749 §4.1.2.1), or the consent form expired."
        ),
        **_page_failures(),
    }


def _authorize() -> Schema:
    parameters = [
        _query(name, schema, text, name in _AUTHORIZATION_REQUIRED)
        for name, (schema, text) in _AUTHORIZATION.items()
    ]
    consent = {name: schema for name, (schema, _) in _AUTHORIZATION.items()}
    consent["csrf_token"] = {**_VALUE, "description": "From the consent page."}
    consent["decision"] = {"enum": ["approve", "deny"], "description": "The button pressed."}
    return {
        "get": {
            "summary": "Authorization request (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1)",
            "operationId": "authorize",
            "parameters": parameters,
            "responses": _authorize_responses(),
        },
        "post": {
            "summary": "The consent form's answer, or an authorization request as a form",
            "description": "With `decision`: the consent page's form. Without it: the same "
            "parameters as the GET (OIDC Core §3.1.2.1). " + _FORM_RULES,
            "operationId": "decide",
            "requestBody": _form(_object(consent, [])),
            "responses": _authorize_responses(),
        },
    }


def _grant(name: str, fields: dict[str, Schema], required: list[str]) -> Schema:
    properties = {"grant_type": {"const": name}, **fields, **_CLIENT}
    return _object(properties, ["grant_type", *required])


def _token() -> Schema:
    verifier = {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$"}
    request = {
        "oneOf": [
            _grant(
                "authorization_code",
                {"code": _VALUE, "redirect_uri": _URI, "code_verifier": verifier},
                ["code", "redirect_uri", "code_verifier"],
            ),
            _grant("client_credentials", {"scope": _TEXT, "resource": _RESOURCES}, []),
            _grant(
                "refresh_token",
                {"refresh_token": _VALUE, "scope": _TEXT, "resource": _RESOURCES},
                ["refresh_token"],
            ),
        ],
        "description": "One object per grant type. " + _FORM_RULES,
    }
    bad = [
        "invalid_request",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
    ]
    return {
        "post": {
            "summary": "Token endpoint (RFC 6749 §3.2)",
            "operationId": "token",
            "security": _CLIENT_AUTH,
            "x-client-authentication": ["client_secret_basic", "client_secret_post", "none"],
            "requestBody": _form(request, _RESOURCE_ENCODING),
            "responses": {
                "200": _json(
                    "RFC 6749 §5.1: the tokens.",
                    _ref("schemas", "TokenResponse"),
                    _headers(*_NO_STORE, *_CORS),
                ),
                **_oauth_errors(bad, *_CORS),
            },
        }
    }


def _token_form(description: str) -> Schema:
    properties = {
        "token": _VALUE,
        "token_type_hint": {
            **_TEXT,
            "description": "access_token or refresh_token; others ignored",
        },
        **_CLIENT,
    }
    return _form(_object(properties, ["token"], f"{description} {_FORM_RULES}"))


def _revoke() -> Schema:
    return {
        "post": {
            "summary": "Token revocation (RFC 7009)",
            "description": "An unknown token, or another client's, revokes nothing and "
            "answers 200 too: the answer does not tell whether the token exists.",
            "operationId": "revoke",
            "security": _CLIENT_AUTH,
            "x-client-authentication": ["client_secret_basic", "client_secret_post", "none"],
            "requestBody": _token_form("RFC 7009 §2.1."),
            "responses": {
                "200": _json(
                    "RFC 7009 §2.2: revoked, or nothing to revoke.",
                    {"type": "object", "maxProperties": 0},
                    _headers(*_NO_STORE, *_CORS),
                ),
                **_oauth_errors(["invalid_request"], *_CORS),
            },
        }
    }


def _introspect() -> Schema:
    return {
        "post": {
            "summary": "Token introspection (RFC 7662)",
            "description": "A client may introspect its own tokens, an --introspect client any "
            'token of this issuer; anything else is exactly {"active": false}.',
            "operationId": "introspect",
            "security": _CLIENT_AUTH,
            "x-client-authentication": ["client_secret_basic", "client_secret_post"],
            "requestBody": _token_form("RFC 7662 §2.1."),
            "responses": {
                "200": _json(
                    "RFC 7662 §2.2.",
                    _ref("schemas", "Introspection"),
                    _headers(*_NO_STORE),
                ),
                **_oauth_errors(["invalid_request"]),
            },
        }
    }


def _userinfo_operation(method: str) -> Schema:
    challenge = {"WWW-Authenticate": _ref("headers", "BearerChallenge")}
    return {
        "summary": f"UserInfo (OIDC Core §5.3), {method}",
        "description": "The token goes in the Authorization header; a body is ignored.",
        "operationId": f"userinfo_{method.lower()}",
        "security": [{"access_token": []}],
        "responses": {
            "200": _json(
                "The claims of the token's user, by scope.",
                _ref("schemas", "UserInfo"),
                _headers(*_NO_STORE, *_CORS),
            ),
            "401": _error(
                "RFC 6750 §3.1: no token, or one that is not active.",
                ["invalid_token"],
                *_CORS,
                **challenge,
            ),
            "403": _error(
                "RFC 6750 §3.1: the token's scope lacks openid.",
                ["insufficient_scope"],
                *_CORS,
                **challenge,
            ),
            **_failures(*_CORS),
        },
    }


def _login() -> Schema:
    form = _object(
        {
            "csrf_token": {**_VALUE, "description": "From the login page."},
            "username": _TEXT,
            "password": _TEXT,
            "next": {**_TEXT, "description": "A same-origin path to return to."},
        },
        ["csrf_token", "username", "password"],
        _FORM_RULES,
    )
    return {
        "get": {
            "summary": "The login page",
            "operationId": "login_page",
            "parameters": [_query("next", _TEXT, "A same-origin path to return to after.")],
            "responses": {
                "200": _page("The login form, or who is signed in in this browser."),
                **_page_failures(),
            },
        },
        "post": {
            "summary": "Sign in",
            "operationId": "login",
            "requestBody": _form(form),
            "responses": {
                "200": _page("The form again: missing or wrong username or password."),
                "303": _redirect("Signed in: to `next`, or to the login page."),
                "400": _page("The form expired or could not be read."),
                "429": _page("Too many failed attempts; wait.", "Retry-After"),
                "500": _page("An unexpected failure (an HTML page)."),
                "503": _page(
                    "No password check could start in time, or storage is down.", "Retry-After"
                ),
            },
        },
    }


def _logout() -> Schema:
    carried = {
        "id_token_hint": (_TEXT, "An id_token this server issued (expired is fine)."),
        "post_logout_redirect_uri": (_URI, "Registered for the client; else a page."),
        "state": (_TEXT, "Echoed in the redirect."),
        "client_id": (_TEXT, "Must match the hint's audience."),
    }
    form = {name: schema for name, (schema, _) in carried.items()}
    form["csrf_token"] = {**_VALUE, "description": "From the confirmation page."}
    form["decision"] = {"const": "logout", "description": "The confirming button."}
    responses = {
        "200": _page("A confirmation page (`decision=logout`), or the signed-out page."),
        "303": _redirect("Signed out: to the registered post_logout_redirect_uri, with `state`."),
        "400": _page("A repeated parameter, a NUL, or a client_id that does not match the hint."),
        **_page_failures(),
    }
    return {
        "get": {
            "summary": "RP-Initiated Logout 1.0 (end_session_endpoint)",
            "operationId": "logout_request",
            "parameters": [_query(n, s, t) for n, (s, t) in carried.items()],
            "responses": responses,
        },
        "post": {
            "summary": "Confirm logout",
            "operationId": "logout_confirmed",
            "requestBody": _form(_object(form, [], _FORM_RULES)),
            "responses": responses,
        },
    }


def _document(operation_id: str, summary: str, ok: Schema) -> Schema:
    return {"get": {"summary": summary, "operationId": operation_id, "responses": {"200": ok}}}


def _metadata(operation_id: str, standard: str) -> Schema:
    cache = {"Cache-Control": _header("One hour.", {"const": "public, max-age=3600"})}
    ok = _json(standard, _ref("schemas", "Metadata"), _headers(*_CORS, **cache))
    return _document(operation_id, f"Server metadata ({standard})", ok)


def _jwks() -> Schema:
    extra = {
        "Cache-Control": _header(
            "AUTHSERVER_JWKS_MAX_AGE.", {"type": "string", "pattern": "^public, max-age=[0-9]+$"}
        ),
        "ETag": _header("RFC 9110 §8.8.3.", {"type": "string", "pattern": '^"[0-9a-f]+"$'}),
    }
    headers = _headers(*_CORS, **extra)
    media = {"application/jwk-set+json": {"schema": _ref("schemas", "Jwks")}}
    return {
        "get": {
            "summary": "The signing keys (RFC 7517, jwks_uri)",
            "operationId": "jwks",
            "parameters": [
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": _TEXT,
                    "description": "RFC 9110 §13.1.2: an entity tag held.",
                }
            ],
            "responses": {
                "200": {
                    "description": "Every published key.",
                    "headers": headers,
                    "content": media,
                },
                "304": {"description": "The held entity tag is current.", "headers": headers},
            },
        }
    }


def _probes() -> dict[str, Schema]:
    no_store = _headers("Cache-Control")
    ready = _json("Ready.", _ref("schemas", "Readiness"), no_store)
    health = _json("Alive.", _object({"status": {"const": "ok"}}, ["status"]), no_store)
    return {
        "/healthz": _document("healthz", "Liveness", health),
        "/readyz": {
            "get": {
                "summary": "Readiness: the database answers and a signing key is loaded",
                "operationId": "readyz",
                "responses": {
                    "200": ready,
                    "503": {**ready, "description": "Not ready."},
                    "500": _failures()["500"],
                },
            }
        },
    }


def _metrics() -> Schema:
    text = {"text/plain": {"schema": _TEXT}}
    challenge = {"WWW-Authenticate": _header("RFC 6750 §3.", {"const": "Bearer"})}
    return {
        "get": {
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "security": [{"metrics_token": []}, {}],
            "responses": {
                "200": {
                    "description": "The scrape.",
                    "headers": _headers("Cache-Control"),
                    "content": text,
                },
                "401": _error(
                    "AUTHSERVER_METRICS_TOKEN is set and not presented.",
                    ["invalid_token"],
                    **challenge,
                ),
                "500": _failures()["500"],
            },
        }
    }


def _openapi() -> Schema:
    cache = {"Cache-Control": _header("One hour.", {"const": "public, max-age=3600"})}
    ok = _json("This document.", {"type": "object", "required": ["openapi"]}, _headers(**cache))
    return _document("openapi", "This OpenAPI description", ok)


def _preflight(path: str) -> Schema:
    """CORS preflight (Fetch standard §3.2.2), answered for the paths of `http.cors`."""
    fixed = {
        "Access-Control-Allow-Origin": {"const": "*"},
        "Access-Control-Allow-Methods": {"const": "GET, POST"},
        "Access-Control-Allow-Headers": {"const": "Authorization, Content-Type"},
        "Access-Control-Max-Age": {"type": "integer", "const": 600},
        "Vary": {"const": "Origin"},
    }
    headers = _headers(
        "Access-Control-Expose-Headers",
        **{name: _header("Preflight answer.", schema) for name, schema in fixed.items()},
    )
    allow = {"Allow": _header("The methods of this path (RFC 9110 §10.2.1).", _TEXT)}
    return {
        "summary": "CORS preflight",
        "operationId": "preflight_" + path.strip("/").replace("/", "_").replace(".", "_"),
        "parameters": [
            {"name": "Origin", "in": "header", "required": True, "schema": _VALUE},
            {
                "name": "Access-Control-Request-Method",
                "in": "header",
                "required": True,
                "schema": _TEXT,
            },
        ],
        "responses": {
            "204": {"description": "Any origin, without credentials.", "headers": headers},
            "405": _error(
                "Not a preflight: OPTIONS itself is not allowed.",
                ["invalid_request"],
                *_CORS,
                **allow,
            ),
        },
    }


def _paths() -> dict[str, Schema]:
    paths = {
        "/.well-known/openid-configuration": _metadata(
            "openid_configuration", "OIDC Discovery 1.0"
        ),
        "/.well-known/oauth-authorization-server": _metadata("oauth_metadata", "RFC 8414"),
        "/.well-known/jwks.json": _jwks(),
        "/authorize": _authorize(),
        "/token": _token(),
        "/revoke": _revoke(),
        "/introspect": _introspect(),
        "/userinfo": {"get": _userinfo_operation("GET"), "post": _userinfo_operation("POST")},
        "/login": _login(),
        "/logout": _logout(),
        **_probes(),
        "/metrics": _metrics(),
        "/openapi.json": _openapi(),
    }
    for path in CORS_PATHS:
        paths[path]["options"] = _preflight(path)
    return paths


# -- Schemas -------------------------------------------------------------------------------


def _schemas(settings: Settings) -> dict[str, Schema]:
    strings = {"type": "array", "items": _TEXT}
    number = {"type": "integer"}
    return {
        "Error": _object(
            {
                "error": {"type": "string", "pattern": "^[a-z_]+$"},
                # RFC 6749 §5.2: %x20-21 / %x23-5B / %x5D-7E.
                "error_description": {
                    "type": "string",
                    "pattern": "^[\\x20-\\x21\\x23-\\x5B\\x5D-\\x7E]*$",
                },
                "error_uri": _URI,
            },
            ["error"],
            "RFC 6749 §5.2.",
        ),
        "TokenResponse": _object(
            {
                "access_token": {**_TEXT, "description": "An RFC 9068 JWT."},
                "token_type": {"const": "Bearer"},
                "expires_in": {"type": "integer", "minimum": 1},
                "scope": _TEXT,
                "refresh_token": {**_TEXT, "description": "Opaque; each use returns a new one."},
                "id_token": {**_TEXT, "description": "OIDC Core §2, when openid was granted."},
            },
            ["access_token", "token_type", "expires_in"],
        ),
        "Introspection": {
            "oneOf": [
                {
                    **_object({"active": {"const": False}}, ["active"]),
                    "additionalProperties": False,
                },
                _object(
                    {
                        "active": {"const": True},
                        "scope": _TEXT,
                        "client_id": _TEXT,
                        "sub": _TEXT,
                        "aud": {"oneOf": [_TEXT, strings]},
                        "iss": _URI,
                        "exp": number,
                        "iat": number,
                        "jti": _TEXT,
                        "token_type": {"enum": ["Bearer", "refresh_token"]},
                    },
                    ["active", "client_id", "sub", "iss", "exp", "iat", "token_type"],
                ),
            ]
        },
        "UserInfo": _object(
            {
                "sub": _TEXT,
                "preferred_username": _TEXT,
                "name": _TEXT,
                "updated_at": number,
                "email": _TEXT,
                "email_verified": {"type": "boolean"},
            },
            ["sub"],
            "OIDC Core §5.1: profile and email claims only with those scopes.",
        ),
        "Metadata": _metadata_schema(settings),
        "Jwks": _object(
            {
                "keys": {
                    "type": "array",
                    "items": _object(
                        {
                            "kty": {"const": "RSA"},
                            "kid": _VALUE,
                            "use": {"const": "sig"},
                            "alg": {"const": "RS256"},
                            "n": _TEXT,
                            "e": _TEXT,
                        },
                        ["kty", "kid", "n", "e"],
                    ),
                }
            },
            ["keys"],
        ),
        "Readiness": _object(
            {
                "status": {"enum": ["ready", "unavailable"]},
                "checks": _object(
                    {"database": {"type": "boolean"}, "signing_key": {"type": "boolean"}},
                    ["database", "signing_key"],
                ),
                "details": {"type": "object", "additionalProperties": _TEXT},
            },
            ["status", "checks"],
        ),
    }


def _metadata_schema(settings: Settings) -> Schema:
    """Every field this server publishes, typed from what it publishes."""
    kinds = {str: _TEXT, bool: {"type": "boolean"}, list: {"type": "array", "items": _TEXT}}
    published = server_metadata(settings)
    properties = {name: kinds[type(value)] for name, value in published.items()}
    # RFC 8414 §2 and OIDC Discovery §3: the REQUIRED ones.
    required = ["issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"]
    required += ["response_types_supported", "subject_types_supported"]
    required += ["id_token_signing_alg_values_supported"]
    return _object(properties, required)

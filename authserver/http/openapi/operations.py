"""The operations of the OpenAPI description, one function per endpoint, as on the wire."""

from authserver.http.cors import CORS_PATHS
from authserver.http.openapi.account import account_paths
from authserver.http.openapi.device import device_paths, grant_requests
from authserver.http.openapi.par import par_paths
from authserver.http.openapi.passkeys import passkey_paths
from authserver.http.openapi.pieces import (
    CLIENT,
    CLIENT_AUTH,
    CORS,
    FORM_RULES,
    NO_STORE,
    RESOURCES,
    TEXT,
    URI,
    VALUE,
    Schema,
    error_answer,
    failure_answers,
    form_body,
    header,
    header_refs,
    json_answer,
    oauth_error_answers,
    object_schema,
    page_answer,
    page_failure_answers,
    query_parameter,
    redirect_answer,
    ref,
)
from authserver.http.openapi.registration import registration_paths
from authserver.http.openapi.upstream import upstream_paths

# -- Operations ----------------------------------------------------------------------------


_RESOURCE_ENCODING = {
    "resource": {"style": "form", "explode": True},
    "audience": {"style": "form", "explode": True},
}
_AUTHORIZATION: dict[str, tuple[Schema, str]] = {
    "response_type": ({"const": "code"}, "RFC 6749 §4.1.1: only the code flow."),
    "client_id": (VALUE, "A registered client."),
    "redirect_uri": (URI, "RFC 9700 §2.1: exactly one of the client's registered URIs."),
    "scope": (TEXT, "Space-separated; openid for an id_token."),
    "state": (TEXT, "Echoed in the redirect."),
    "nonce": ({"type": "string", "maxLength": 512}, "OIDC Core §3.1.2.1: echoed in the id_token."),
    "prompt": (TEXT, "none, login, consent, select_account; none stands alone."),
    "max_age": ({"type": "string", "pattern": "^[0-9]{1,10}$"}, "Seconds since sign-in."),
    "code_challenge": (
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
        "RFC 7636 §4.2: BASE64URL(SHA256(code_verifier)), required.",
    ),
    "code_challenge_method": ({"const": "S256"}, "RFC 7636: S256 only, required."),
    "claims": (
        {"type": "string", "maxLength": 4096},
        "OIDC Core §5.5: a JSON object with userinfo and id_token members naming claims.",
    ),
    "login_hint": (TEXT, "OIDC Core §3.1.2.1: the login page's initial username."),
    "ui_locales": (TEXT, "OIDC Core §3.1.2.1: accepted and ignored (pages are in English)."),
    "claims_locales": (TEXT, "OIDC Core §5.2: accepted and ignored."),
    "sign_in_after": (TEXT, "Set by this server on the way back from the login page."),
    "account_chosen": (TEXT, "Set by this server after Continue on the account page."),
    "dpop_jkt": (
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
        "RFC 9449 §10: the JWK thumbprint of the DPoP key the code is bound to.",
    ),
    "request_uri": (TEXT, "RFC 9126 §4: from /par; then every other parameter is ignored."),
    "pushed_until": (TEXT, "Set by this server once a request_uri from /par was used."),
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
        "200": page_answer(
            "The consent page, when the user has not yet approved these scopes, or the "
            "account page (prompt=select_account)."
        ),
        "302": redirect_answer(
            "To the verified redirect_uri with `code`, or `error` (RFC 6749 §4.1.2.1): "
            "invalid_request, unauthorized_client, unsupported_response_type, invalid_scope, "
            "invalid_target, access_denied, request_not_supported, login_required or "
            "consent_required (OIDC Core §3.1.2.6); with "
            "`state` and `iss` (RFC 9207).",
            **{"Referrer-Policy": ref("headers", "NoReferrer")},
        ),
        "303": redirect_answer("To the login page first, coming back here afterwards."),
        "400": page_answer(
            "An error page: client_id or redirect_uri cannot be verified, so no redirect "
            "(RFC 6749 §4.1.2.1); a request_uri unknown, expired, used or another client's "
            "(RFC 9126 §4); or the consent or account form expired."
        ),
        **page_failure_answers(),
    }


def _authorize() -> Schema:
    parameters = [
        # RFC 9126 §4: with a request_uri, client_id is the only other parameter needed.
        query_parameter(name, schema, text, name == "client_id")
        for name, (schema, text) in _AUTHORIZATION.items()
    ]
    consent = {name: schema for name, (schema, _) in _AUTHORIZATION.items()}
    consent["csrf_token"] = {**VALUE, "description": "From the consent page."}
    consent["decision"] = {"enum": ["approve", "deny"], "description": "The button pressed."}
    consent["account"] = {
        "enum": ["continue", "switch"],
        "description": "The account page's button (prompt=select_account).",
    }
    return {
        "get": {
            "summary": "Authorization request (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1)",
            "description": "Either client_id and a request_uri from /par (RFC 9126 §4), or "
            "the whole request: " + ", ".join(_AUTHORIZATION_REQUIRED) + " are required.",
            "operationId": "authorize",
            "parameters": parameters,
            "responses": _authorize_responses(),
        },
        "post": {
            "summary": "The consent form's answer, or an authorization request as a form",
            "description": "With `decision`: the consent page's form. With `account`: the "
            "account page's. Without either: the same parameters as the GET (OIDC Core "
            "§3.1.2.1). " + FORM_RULES,
            "operationId": "decide",
            "requestBody": form_body(object_schema(consent, [])),
            "responses": _authorize_responses(),
        },
    }


# RFC 9449 §4.1: a DPoP proof for this request; with it the access token is bound to its key
# (`token_type` DPoP). Answers to it carry `DPoP-Nonce` when the server requires nonces.
_DPOP_PROOF: Schema = {
    "name": "DPoP",
    "in": "header",
    "required": False,
    "description": "RFC 9449 §4: a DPoP proof JWT (typ dpop+jwt) for this request.",
    "schema": {"type": "string", "maxLength": 8192},
}


def _grant(name: str, fields: dict[str, Schema], required: list[str]) -> Schema:
    properties = {"grant_type": {"const": name}, **fields, **CLIENT}
    return object_schema(properties, ["grant_type", *required])


def _token() -> Schema:
    verifier = {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$"}
    request = {
        "oneOf": [
            _grant(
                "authorization_code",
                {"code": VALUE, "redirect_uri": URI, "code_verifier": verifier},
                ["code", "redirect_uri", "code_verifier"],
            ),
            _grant("client_credentials", {"scope": TEXT, "resource": RESOURCES}, []),
            _grant(
                "refresh_token",
                {"refresh_token": VALUE, "scope": TEXT, "resource": RESOURCES},
                ["refresh_token"],
            ),
            *grant_requests(_grant),
        ],
        "description": "One object per grant type. " + FORM_RULES,
    }
    bad = [
        "invalid_request",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "invalid_scope",
        "invalid_target",
        # RFC 8628 §3.5, the device code grant.
        "authorization_pending",
        "slow_down",
        "access_denied",
        "expired_token",
        # RFC 9449 §5, §8: a bad DPoP proof, or one without the server's nonce.
        "invalid_dpop_proof",
        "use_dpop_nonce",
    ]
    return {
        "post": {
            "summary": "Token endpoint (RFC 6749 §3.2)",
            "operationId": "token",
            "parameters": [_DPOP_PROOF],
            "security": CLIENT_AUTH,
            "x-client-authentication": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            "requestBody": form_body(request, _RESOURCE_ENCODING),
            "responses": {
                "200": json_answer(
                    "RFC 6749 §5.1: the tokens.",
                    ref("schemas", "TokenResponse"),
                    header_refs(*NO_STORE, *CORS),
                ),
                **oauth_error_answers(bad, *CORS),
            },
        }
    }


def _token_form(description: str) -> Schema:
    properties = {
        "token": VALUE,
        "token_type_hint": {
            **TEXT,
            "description": "access_token or refresh_token; others ignored",
        },
        **CLIENT,
    }
    return form_body(object_schema(properties, ["token"], f"{description} {FORM_RULES}"))


def _revoke() -> Schema:
    return {
        "post": {
            "summary": "Token revocation (RFC 7009)",
            "description": "An unknown token, or another client's, revokes nothing and "
            "answers 200 too: the answer does not tell whether the token exists.",
            "operationId": "revoke",
            "security": CLIENT_AUTH,
            "x-client-authentication": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "none",
            ],
            "requestBody": _token_form("RFC 7009 §2.1."),
            "responses": {
                "200": json_answer(
                    "RFC 7009 §2.2: revoked, or nothing to revoke.",
                    {"type": "object", "maxProperties": 0},
                    header_refs(*NO_STORE, *CORS),
                ),
                **oauth_error_answers(["invalid_request"], *CORS),
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
            "security": CLIENT_AUTH,
            "x-client-authentication": [
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ],
            "requestBody": _token_form("RFC 7662 §2.1."),
            "responses": {
                "200": json_answer(
                    "RFC 7662 §2.2.",
                    ref("schemas", "Introspection"),
                    header_refs(*NO_STORE),
                ),
                **oauth_error_answers(["invalid_request"]),
            },
        }
    }


def _userinfo_operation(method: str) -> Schema:
    challenge = {"WWW-Authenticate": ref("headers", "BearerChallenge")}
    return {
        "summary": f"UserInfo (OIDC Core §5.3), {method}",
        "description": "The token goes in the Authorization header (Bearer, or DPoP with "
        "a proof, RFC 9449 §7.1); a body is ignored.",
        "operationId": f"userinfo_{method.lower()}",
        "parameters": [_DPOP_PROOF],
        "security": [{"access_token": []}],
        "responses": {
            "200": json_answer(
                "The claims of the token's user, by scope.",
                ref("schemas", "UserInfo"),
                header_refs(*NO_STORE, *CORS),
            ),
            "401": error_answer(
                "RFC 6750 §3.1: no token, or one that is not active; RFC 9449 §7.1, §9: a "
                "bad DPoP proof, or one without the server's nonce (then `DPoP-Nonce`).",
                ["invalid_token", "invalid_dpop_proof", "use_dpop_nonce"],
                *CORS,
                **challenge,
            ),
            "403": error_answer(
                "RFC 6750 §3.1: the token's scope lacks openid.",
                ["insufficient_scope"],
                *CORS,
                **challenge,
            ),
            **failure_answers(*CORS),
        },
    }


def _login() -> Schema:
    form = object_schema(
        {
            "csrf_token": {**VALUE, "description": "From the login page."},
            "username": TEXT,
            "password": TEXT,
            "next": {**TEXT, "description": "A same-origin path to return to."},
        },
        ["csrf_token", "username", "password"],
        FORM_RULES,
    )
    return {
        "get": {
            "summary": "The login page",
            "operationId": "login_page",
            "parameters": [query_parameter("next", TEXT, "A same-origin path to return to after.")],
            "responses": {
                "200": page_answer("The login form, or who is signed in in this browser."),
                **page_failure_answers(),
            },
        },
        "post": {
            "summary": "Sign in",
            "operationId": "login",
            "requestBody": form_body(form),
            "responses": {
                "200": page_answer("The form again: missing or wrong username or password."),
                "303": redirect_answer("Signed in: to `next`, or to the login page."),
                "400": page_answer("The form expired or could not be read."),
                "429": page_answer("Too many failed attempts; wait.", "Retry-After"),
                "500": page_answer("An unexpected failure (an HTML page)."),
                "503": page_answer(
                    "No password check could start in time, or storage is down.", "Retry-After"
                ),
            },
        },
    }


def _logout() -> Schema:
    carried = {
        "id_token_hint": (TEXT, "An id_token this server issued (expired is fine)."),
        "post_logout_redirect_uri": (URI, "Registered for the client; else a page."),
        "state": (TEXT, "Echoed in the redirect."),
        "client_id": (TEXT, "Must match the hint's audience."),
    }
    form = {name: schema for name, (schema, _) in carried.items()}
    form["csrf_token"] = {**VALUE, "description": "From the confirmation page."}
    form["decision"] = {"const": "logout", "description": "The confirming button."}
    responses = {
        "200": page_answer("A confirmation page (`decision=logout`), or the signed-out page."),
        "303": redirect_answer(
            "Signed out: to the registered post_logout_redirect_uri, with `state`."
        ),
        "400": page_answer(
            "A repeated parameter, a NUL, or a client_id that does not match the hint."
        ),
        **page_failure_answers(),
    }
    return {
        "get": {
            "summary": "RP-Initiated Logout 1.0 (end_session_endpoint)",
            "operationId": "logout_request",
            "parameters": [query_parameter(n, s, t) for n, (s, t) in carried.items()],
            "responses": responses,
        },
        "post": {
            "summary": "Confirm logout",
            "operationId": "logout_confirmed",
            "requestBody": form_body(object_schema(form, [], FORM_RULES)),
            "responses": responses,
        },
    }


def _document(operation_id: str, summary: str, ok: Schema) -> Schema:
    return {"get": {"summary": summary, "operationId": operation_id, "responses": {"200": ok}}}


def _metadata(operation_id: str, standard: str) -> Schema:
    cache = {"Cache-Control": header("One hour.", {"const": "public, max-age=3600"})}
    ok = json_answer(standard, ref("schemas", "Metadata"), header_refs(*CORS, **cache))
    return _document(operation_id, f"Server metadata ({standard})", ok)


IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "schema": TEXT,
    "description": "RFC 9110 §13.1.2: an entity tag held.",
}


def _revalidated(max_age_setting: str) -> dict[str, Schema]:
    """`Cache-Control: public, max-age` from a setting, and a strong `ETag`."""
    return {
        "Cache-Control": header(
            f"{max_age_setting}.", {"type": "string", "pattern": "^public, max-age=[0-9]+$"}
        ),
        "ETag": header("RFC 9110 §8.8.3.", {"type": "string", "pattern": '^"[0-9a-f]+"$'}),
    }


def _jwks() -> Schema:
    headers = header_refs(*CORS, **_revalidated("AUTHSERVER_JWKS_MAX_AGE"))
    media = {"application/jwk-set+json": {"schema": ref("schemas", "Jwks")}}
    return {
        "get": {
            "summary": "The signing keys (RFC 7517, jwks_uri)",
            "operationId": "jwks",
            "parameters": [IF_NONE_MATCH],
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


def _status_lists() -> dict[str, Schema]:
    """draft-ietf-oauth-status-list-18 §8.1 (a list) and §9 (aggregation)."""
    headers = header_refs(**_revalidated("AUTHSERVER_STATUS_LIST_TTL"))
    listed = object_schema({"status_lists": {"type": "array", "items": TEXT}}, ["status_lists"])
    token = {"application/statuslist+jwt": {"schema": TEXT}}
    return {
        "/statuslists": _document(
            "status_list_aggregation",
            "Every live status list (status_list_aggregation_endpoint)",
            json_answer("Their URIs.", listed, header_refs("Cache-Control")),
        ),
        "/statuslists/{list_id}": {
            "get": {
                "summary": "A Status List Token (the access tokens' status.status_list.uri)",
                "operationId": "status_list",
                "parameters": [
                    {"name": "list_id", "in": "path", "required": True, "schema": VALUE},
                    IF_NONE_MATCH,
                ],
                "responses": {
                    "200": {
                        "description": "The list, signed (typ statuslist+jwt).",
                        "headers": headers,
                        "content": token,
                    },
                    "304": {
                        "description": "The held entity tag is current.",
                        "headers": headers,
                    },
                    "404": error_answer("No such live list.", ["not_found"]),
                    "406": error_answer("Only the JWT form is served.", ["not_acceptable"]),
                    "503": failure_answers()["503"],
                    "500": failure_answers()["500"],
                },
            }
        },
    }


def _probes() -> dict[str, Schema]:
    no_store = header_refs("Cache-Control")
    ready = json_answer("Ready.", ref("schemas", "Readiness"), no_store)
    health = json_answer("Alive.", object_schema({"status": {"const": "ok"}}, ["status"]), no_store)
    return {
        "/healthz": _document("healthz", "Liveness", health),
        "/readyz": {
            "get": {
                "summary": "Readiness: the database answers and a signing key is loaded",
                "operationId": "readyz",
                "responses": {
                    "200": ready,
                    "503": {**ready, "description": "Not ready."},
                    "500": failure_answers()["500"],
                },
            }
        },
    }


def _metrics() -> Schema:
    text = {"text/plain": {"schema": TEXT}}
    challenge = {"WWW-Authenticate": header("RFC 6750 §3.", {"const": "Bearer"})}
    return {
        "get": {
            "summary": "Prometheus metrics",
            "operationId": "metrics",
            "security": [{"metrics_token": []}, {}],
            "responses": {
                "200": {
                    "description": "The scrape.",
                    "headers": header_refs("Cache-Control"),
                    "content": text,
                },
                "401": error_answer(
                    "AUTHSERVER_METRICS_TOKEN is set and not presented.",
                    ["invalid_token"],
                    **challenge,
                ),
                "500": failure_answers()["500"],
            },
        }
    }


def _openapi() -> Schema:
    cache = {"Cache-Control": header("One hour.", {"const": "public, max-age=3600"})}
    ok = json_answer(
        "This document.", {"type": "object", "required": ["openapi"]}, header_refs(**cache)
    )
    return _document("openapi", "This OpenAPI description", ok)


def _preflight(path: str) -> Schema:
    """CORS preflight (Fetch standard §3.2.2), answered for the paths of `http.cors`."""
    fixed = {
        "Access-Control-Allow-Origin": {"const": "*"},
        "Access-Control-Allow-Methods": {"const": "GET, POST"},
        "Access-Control-Allow-Headers": {"const": "Authorization, Content-Type, DPoP"},
        "Access-Control-Max-Age": {"type": "integer", "const": 600},
        "Vary": {"const": "Origin"},
    }
    headers = header_refs(
        "Access-Control-Expose-Headers",
        **{name: header("Preflight answer.", schema) for name, schema in fixed.items()},
    )
    allow = {"Allow": header("The methods of this path (RFC 9110 §10.2.1).", TEXT)}
    return {
        "summary": "CORS preflight",
        "operationId": "preflight_" + path.strip("/").replace("/", "_").replace(".", "_"),
        "parameters": [
            {"name": "Origin", "in": "header", "required": True, "schema": VALUE},
            {
                "name": "Access-Control-Request-Method",
                "in": "header",
                "required": True,
                "schema": TEXT,
            },
        ],
        "responses": {
            "204": {"description": "Any origin, without credentials.", "headers": headers},
            "405": error_answer(
                "Not a preflight: OPTIONS itself is not allowed.",
                ["invalid_request"],
                *CORS,
                **allow,
            ),
        },
    }


def paths() -> dict[str, Schema]:
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
        **_status_lists(),
        **registration_paths(),
        **device_paths(),
        **account_paths(),
        **passkey_paths(),
        **upstream_paths(),
        **par_paths(_AUTHORIZATION, _AUTHORIZATION_REQUIRED),
    }
    for path in CORS_PATHS:
        paths[path]["options"] = _preflight(path)
    return paths

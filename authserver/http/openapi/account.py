"""The OpenAPI description of the sign-in's second step and the account page: HTML
pages and forms, for people; each form carries the page's CSRF token."""

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

_CSRF: Schema = {**VALUE, "description": "From the page."}
_NEXT: Schema = {**TEXT, "description": "A same-origin path to return to."}
_SIGNED_OUT = redirect_answer("Not signed in: to the login page, coming back here.")


def account_paths() -> dict[str, Schema]:
    return {
        "/login/second-factor": _second_factor(),
        "/account": {"get": _account_page()},
        "/account/totp": _totp_enrolment(),
        "/account/totp/remove": _account_action(
            "account_totp_remove", "Remove the authenticator app", {}
        ),
        "/account/recovery-codes": _account_action(
            "account_recovery_codes", "Replace the recovery codes (shown once)", {}
        ),
        "/account/sessions/end": _account_action(
            "account_session_end", "Sign one of the user's sessions out", {"sid": VALUE}
        ),
        "/account/sessions/end-all": _account_action(
            "account_sessions_end_all", "Sign out everywhere", {}
        ),
        "/account/apps/revoke": _account_action(
            "account_app_revoke",
            "Revoke an application's access (its consent and refresh tokens)",
            {"client_id": VALUE},
        ),
        "/account/password": _account_action(
            "account_password",
            "Change the password (the current one is required)",
            {
                "current_password": VALUE,
                "new_password": VALUE,
                "confirm_password": VALUE,
                "sign_out_others": {"enum": ["yes"]},
            },
        ),
    }


def _second_factor() -> Schema:
    form = object_schema(
        {
            "csrf_token": _CSRF,
            "code": {**TEXT, "description": "A TOTP or recovery code."},
            "next": _NEXT,
        },
        ["csrf_token"],
        FORM_RULES,
    )
    no_sign_in = redirect_answer(
        "A session after the proof, or the login page when there is nothing to prove."
    )
    return {
        "get": {
            "summary": "The second step of a sign-in, or of a step-up",
            "operationId": "second_factor_page",
            "parameters": [query_parameter("next", TEXT, "Where to go afterwards.")],
            "responses": {
                "200": page_answer("The code form."),
                "303": no_sign_in,
                **page_failure_answers(),
            },
        },
        "post": {
            "summary": "Prove the second factor with a code",
            "operationId": "second_factor",
            "requestBody": form_body(form),
            "responses": {
                "200": page_answer("The form again, with an error."),
                "303": no_sign_in,
                "400": page_answer("The form expired or could not be read."),
                "429": page_answer("Too many codes tried; wait.", "Retry-After"),
                **page_failure_answers(),
            },
        },
    }


def _account_page() -> Schema:
    return {
        "summary": "The signed-in user's account: factors, sessions, applications, password",
        "operationId": "account_page",
        "responses": {
            "200": page_answer("The account page."),
            "303": _SIGNED_OUT,
            **page_failure_answers(),
        },
    }


def _totp_enrolment() -> Schema:
    form = object_schema(
        {
            "csrf_token": _CSRF,
            "code": {**TEXT, "description": "The app's first code."},
            "next": _NEXT,
        },
        ["csrf_token"],
        FORM_RULES,
    )
    return {
        "get": {
            "summary": "Set up an authenticator app: the key as a QR code and as text",
            "operationId": "totp_enrolment_page",
            "parameters": [query_parameter("next", TEXT, "Where to go afterwards.")],
            "responses": {
                "200": page_answer("The key and the form for the first code."),
                "303": _SIGNED_OUT,
                "404": page_answer("Two-step verification is off (AUTHSERVER_MFA=off)."),
                **page_failure_answers(),
            },
        },
        "post": {
            "summary": "Confirm the app with its first code; shows the recovery codes once",
            "operationId": "totp_enrolment",
            "requestBody": form_body(form),
            "responses": {
                "200": page_answer("The recovery codes."),
                "303": _SIGNED_OUT,
                "400": page_answer("A wrong code, or the form expired or could not be read."),
                "404": page_answer("Two-step verification is off (AUTHSERVER_MFA=off)."),
                **page_failure_answers(),
            },
        },
    }


def _account_action(operation_id: str, summary: str, fields: dict[str, Schema]) -> Schema:
    form = object_schema({"csrf_token": _CSRF, **fields}, ["csrf_token"], FORM_RULES)
    return {
        "post": {
            "summary": summary,
            "operationId": operation_id,
            "requestBody": form_body(form),
            "responses": {
                "200": page_answer("The account page, or the recovery codes, after the change."),
                "303": redirect_answer("Back to the account page, or to the login page."),
                "400": page_answer(
                    "The form expired, could not be read, or names nothing of the user's."
                ),
                "403": page_answer("The session must have proved a second factor."),
                "429": page_answer("Too many password attempts; wait.", "Retry-After"),
                **page_failure_answers(),
            },
        }
    }

"""Client metadata (RFC 7591 §2) to a `ClientSpec`, and a client back to its registered
metadata (§3.2.1).

Every field this server understands is checked for its JSON type and its value. Any other
field is ignored (§2: the server "MUST ignore any client metadata sent by the client that it
does not understand"): language-tagged names (§2.2), `software_statement` (§3.1.1: a server
that does not support software statements may ignore them), `client_id` and `client_secret`
in a registration request. A client registered here never skips consent, never introspects
other clients' tokens and names no audiences: `ClientSpec`'s defaults.
"""

from collections.abc import Sequence
from typing import Any

from authserver.clients.key_sets import jwks_problem
from authserver.clients.models import PRIVATE_KEY_JWT, Client
from authserver.clients.registration import ClientSpec, RegistrationError, validate
from authserver.errors import InvalidRedirectURIError
from authserver.registration import fields
from authserver.registration.fields import Metadata, invalid
from authserver.scopes import parse_scope
from authserver.uris import redirect_uri_problem

GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")
AUTH_METHODS = ("client_secret_basic", "client_secret_post", PRIVATE_KEY_JWT, "none")
URL_FIELDS = ("client_uri", "logo_uri", "tos_uri", "policy_uri")
MAX_CONTACT_LENGTH = 320  # RFC 5321 §4.5.3.1: 64 + "@" + 255
UNNAMED = "Unnamed client"
# `clients.registration.validate` names the CLI's options; here they are metadata fields.
_FIELD_OF_OPTION = {
    "--name": "client_name",
    "--grant-type": "grant_types",
    "--public": "token_endpoint_auth_method",
    "--redirect-uri": "redirect_uris",
    "--post-logout-redirect-uri": "post_logout_redirect_uris",
    "--scope": "scope",
    "--auth-method": "token_endpoint_auth_method",
    "--jwks-uri": "jwks_uri",
}


def client_spec_of(metadata: Metadata, offered_scopes: Sequence[str]) -> ClientSpec:
    """The client `metadata` asks for, every field checked; raises `invalid_redirect_uri`
    or `invalid_client_metadata` (RFC 7591 §3.2.2) naming the first field that is wrong."""
    auth_method = _auth_method(metadata)
    grant_types = _grant_types(metadata)
    _check_response_types(metadata, grant_types)
    descriptive = _descriptive(metadata)
    keys: dict[str, Any] = {}
    if auth_method == PRIVATE_KEY_JWT:
        # RFC 7591 §2, OIDC Core §9: the keys its assertions are verified with.
        keys = {
            "jwks": descriptive.pop("jwks", None),
            "jwks_uri": descriptive.pop("jwks_uri", None),
        }
    spec = ClientSpec(
        name=fields.text(metadata, "client_name") or UNNAMED,
        grant_types=grant_types,
        scope=_scope(metadata, offered_scopes),
        redirect_uris=_redirect_uris(metadata),
        post_logout_redirect_uris=_post_logout_redirect_uris(metadata),
        public=auth_method == "none",
        token_endpoint_auth_method=auth_method,
        registration_metadata=descriptive,
        **keys,
    )
    _validate(spec)
    return spec


def registered_metadata(client: Client) -> dict[str, Any]:
    """§3.2.1: every registered value, those the server chose included (defaults)."""
    metadata: dict[str, Any] = {
        "client_id": client.client_id,
        "client_id_issued_at": int(client.created_at.timestamp()),
        "client_name": client.name,
        "grant_types": client.grant_types,
        # §2.1: code goes with authorization_code, the only grant type with a response type.
        "response_types": ["code"] if "authorization_code" in client.grant_types else [],
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "scope": client.scope,
        **(client.registration_metadata or {}),
    }
    if client.jwks is not None:
        metadata["jwks"] = client.jwks
    if client.jwks_uri is not None:
        metadata["jwks_uri"] = client.jwks_uri
    if client.secret_hash is not None:
        metadata["client_secret_expires_at"] = 0  # §3.2.1: the secret does not expire
    return metadata


def _auth_method(metadata: Metadata) -> str:
    # §2: client_secret_basic when omitted.
    method = fields.text(metadata, "token_endpoint_auth_method") or "client_secret_basic"
    if method not in AUTH_METHODS:
        raise invalid("token_endpoint_auth_method", f"must be one of {', '.join(AUTH_METHODS)}")
    return method


def _grant_types(metadata: Metadata) -> list[str]:
    # §2: authorization_code when omitted.
    grant_types = fields.strings(metadata, "grant_types")
    if grant_types is None:
        return ["authorization_code"]
    if any(grant_type not in GRANT_TYPES for grant_type in grant_types):
        raise invalid("grant_types", f"each must be one of {', '.join(GRANT_TYPES)}")
    return list(dict.fromkeys(grant_types))


def _check_response_types(metadata: Metadata, grant_types: list[str]) -> None:
    response_types = fields.strings(metadata, "response_types")
    if response_types is None:
        return  # §2: code when omitted; none for a client without authorization_code
    if any(response_type != "code" for response_type in response_types):
        raise invalid("response_types", "only code is supported")
    if ("code" in response_types) != ("authorization_code" in grant_types):
        # §2.1: the code response type and the authorization_code grant go together.
        raise invalid("response_types", "code goes with the authorization_code grant type")


def _scope(metadata: Metadata, offered_scopes: Sequence[str]) -> str:
    # §2: a server may register a default set when omitted: every scope it offers.
    scope = fields.text(metadata, "scope", 2000)
    if scope is None:
        return " ".join(offered_scopes)
    tokens = parse_scope(scope)
    if tokens is None:
        raise invalid("scope", "scope tokens are printable ASCII without quotes")
    if any(token not in offered_scopes for token in tokens):
        raise invalid("scope", f"each must be one of {', '.join(offered_scopes)}")
    return " ".join(tokens)


def _redirect_uris(metadata: Metadata) -> list[str]:
    uris = fields.strings(metadata, "redirect_uris") or []
    for index, uri in enumerate(uris):
        if problem := redirect_uri_problem(uri):
            # §3.2.2: "The value of one or more redirection URIs is invalid."
            raise InvalidRedirectURIError(fields.description(f"redirect_uris[{index}]", problem))
    return list(dict.fromkeys(uris))


def _post_logout_redirect_uris(metadata: Metadata) -> list[str]:
    # OIDC RP-Initiated Logout 1.0 §3.1: registered like redirect URIs.
    uris = fields.strings(metadata, "post_logout_redirect_uris") or []
    for index, uri in enumerate(uris):
        if problem := redirect_uri_problem(uri):
            raise invalid(f"post_logout_redirect_uris[{index}]", problem)
    return list(dict.fromkeys(uris))


def _descriptive(metadata: Metadata) -> dict[str, Any]:
    """The fields only stored and shown again: URLs, contacts, keys, software."""
    found: dict[str, Any] = {field: fields.https_url(metadata, field) for field in URL_FIELDS}
    found["contacts"] = fields.texts(metadata, "contacts", MAX_CONTACT_LENGTH)
    found["software_id"] = fields.text(metadata, "software_id")
    found["software_version"] = fields.text(metadata, "software_version")
    found["jwks_uri"] = fields.https_url(metadata, "jwks_uri")
    if (jwks := metadata.get("jwks")) is not None:
        if found["jwks_uri"] is not None:
            # §2: "jwks_uri" and "jwks" MUST NOT both be present.
            raise invalid("jwks", "jwks and jwks_uri must not both be present")
        if problem := jwks_problem(jwks):
            raise invalid("jwks", problem)
        found["jwks"] = jwks
    return {field: value for field, value in found.items() if value is not None}


def _validate(spec: ClientSpec) -> None:
    """The rules every client obeys (`clients.registration.validate`), as RFC 7591 errors."""
    try:
        validate(spec)
    except RegistrationError as error:
        field = _FIELD_OF_OPTION.get(error.field, error.field.removeprefix("--"))
        if field == "redirect_uris":
            raise InvalidRedirectURIError(fields.description(field, str(error))) from None
        raise invalid(field, str(error)) from None

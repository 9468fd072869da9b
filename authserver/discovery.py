"""Server metadata (RFC 8414 §2, OpenID Connect Discovery 1.0 §3): only what is implemented."""

from typing import Any

from authserver.clients.assertions import ALGORITHM_NAMES
from authserver.clients.models import GRANT_TYPES
from authserver.device_flow.endpoint import DEVICE_AUTHORIZATION_PATH
from authserver.dpop import DPOP_ALGORITHMS
from authserver.factors.policy import ACR_VALUES
from authserver.par.endpoint import PAR_PATH
from authserver.profiles.fapi2 import FAPI2
from authserver.settings import Settings


def server_metadata(settings: Settings) -> dict[str, Any]:
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "scopes_supported": ["openid", "profile", "email"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        # RFC 8628 §4: the device authorization endpoint.
        "device_authorization_endpoint": f"{issuer}{DEVICE_AUTHORIZATION_PATH}",
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        # RFC 8414 §2: public clients may revoke their own tokens; introspection is for
        # confidential clients only.
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "none",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        # RFC 8414 §2, RFC 7523: the algorithms a client assertion may be signed with.
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHM_NAMES),
        "revocation_endpoint_auth_signing_alg_values_supported": list(ALGORITHM_NAMES),
        "introspection_endpoint_auth_signing_alg_values_supported": list(ALGORITHM_NAMES),
        # RFC 7636 / RFC 9700 §2.1.1: S256 only; `plain` is refused and not advertised.
        "code_challenge_methods_supported": ["S256"],
        # RFC 9207: `iss` in every authorization response.
        "authorization_response_iss_parameter_supported": True,
        # OpenID Connect Discovery 1.0 §3.
        "subject_types_supported": ["public"],
        # AUTHSERVER_SIGNING_ALG, then AUTHSERVER_EXTRA_SIGNING_ALGS (docs/keys.md).
        "id_token_signing_alg_values_supported": list(settings.signing_algorithms),
        "claims_supported": [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "amr",
            "acr",
            "preferred_username",
            "name",
            "updated_at",
            "email",
            "email_verified",
        ],
        # OIDC Core §3.1.2.1 (select_account: docs/login-and-sso.md#prompt-and-max_age)
        # and §5.5 (the `claims` parameter: grants/claims_request.py).
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "claims_parameter_supported": True,
        # OIDC Core §3.1.2.1 acr_values (factors/policy.py): one factor, or two.
        "acr_values_supported": list(ACR_VALUES),
        "request_parameter_supported": False,
        # OIDC Discovery §3: about request objects by reference (JAR), which are not
        # fetched here. RFC 9126 §5: a request_uri from /par works regardless.
        "request_uri_parameter_supported": False,
        # RFC 9126 §5: pushed authorization requests, required for every client or not
        # (a client made with --require-par requires them for itself, §6).
        "pushed_authorization_request_endpoint": f"{issuer}{PAR_PATH}",
        # RFC 9126 §5; FAPI 2.0 §5.3.2.2 item 3 (AUTHSERVER_PROFILE=fapi2) requires it too.
        "require_pushed_authorization_requests": settings.require_par or settings.profile == FAPI2,
        # RFC 9068 §2.1 / RFC 8707: JWT access tokens and resource indicators.
        "access_token_signing_alg_values_supported": list(settings.signing_algorithms),
        "resource_indicators_supported": True,
        # RFC 9449 §5.1: the algorithms a DPoP proof may be signed with.
        "dpop_signing_alg_values_supported": sorted(DPOP_ALGORITHMS),
        # draft-ietf-oauth-status-list-18 §9.3: every live Status List's URI; each access
        # token's `status` claim names its own list and index (docs/revocation.md).
        "status_list_aggregation_endpoint": f"{issuer}/statuslists",
        # OpenID Connect Back-Channel Logout 1.0 §2.1: Logout Tokens carry `sid` and `sub`.
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        # RFC 8414 §2 / RFC 7591 §3: where clients register, unless registration is off.
        **(
            {"registration_endpoint": f"{issuer}/register"}
            if settings.registration != "off"
            else {}
        ),
    }

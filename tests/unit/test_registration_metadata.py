"""Properties of client metadata checking (RFC 7591 §2, §3.2.2), without HTTP or a database:
whatever JSON arrives, the answer is a `ClientSpec` or one of the two registration errors,
and an accepted spec obeys the rules every client does."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from authserver.clients.models import Client
from authserver.clients.registration import validate
from authserver.errors import InvalidClientMetadataError, InvalidRedirectURIError
from authserver.registration.documents import MetadataDocument, parse_metadata
from authserver.registration.metadata import GRANT_TYPES, client_spec_of
from authserver.registration.service import ISSUED_FIELDS, client_information

FAST = settings(max_examples=200, deadline=None, database=None)
OFFERED = ("openid", "profile", "email")
FIELDS = [
    "redirect_uris", "token_endpoint_auth_method", "grant_types", "response_types",
    "client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts", "scope",
    "jwks", "jwks_uri", "software_id", "software_version", "post_logout_redirect_uris",
]  # fmt: skip
# Values near the valid ones, so that examples get past the first check.
NEAR = st.sampled_from(
    [
        "https://app.example.test/cb", "http://127.0.0.1:8080/cb", "com.example.app:/cb",
        "authorization_code", "refresh_token", "client_credentials", "code", "none",
        "client_secret_post", "openid profile", "openid", "", " ", "\u0000", "é",
    ]
)  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | NEAR | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
METADATA = st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES | st.lists(NEAR), max_size=8)
REGISTRATION_ERRORS = (InvalidClientMetadataError, InvalidRedirectURIError)
ISSUED = {"client_id", *ISSUED_FIELDS}


@FAST
@given(METADATA)
def test_any_metadata_is_a_valid_spec_or_a_registration_error(metadata: dict[str, Any]) -> None:
    try:
        spec = client_spec_of(metadata, OFFERED)
    except REGISTRATION_ERRORS as error:
        assert error.get_error_description()  # a valid RFC 6749 §5.2 description
        return
    validate(spec)
    assert set(spec.grant_types) <= set(GRANT_TYPES)
    assert set(spec.scope.split()) <= set(OFFERED)
    assert spec.public == (spec.token_endpoint_auth_method == "none")
    assert not (spec.skip_consent or spec.can_introspect or spec.audiences)


@FAST
@given(st.binary(max_size=300) | METADATA.map(lambda m: json.dumps(m).encode()))
def test_any_body_is_an_object_or_invalid_client_metadata(body: bytes) -> None:
    try:
        parsed = parse_metadata(MetadataDocument("application/json", body))
    except InvalidClientMetadataError:
        return
    assert isinstance(parsed, dict)
    json.dumps(parsed).encode("utf-8")  # storable: no lone surrogate


def test_what_a_read_returns_registers_the_same_client_again() -> None:
    """RFC 7592 §2.2: a read's answer, less the fields the server issues, is a valid update
    that changes nothing."""
    metadata = {
        "redirect_uris": ["https://app.example.test/cb"],
        "client_name": "Notes",
        "contacts": ["ops@example.test"],
        "jwks_uri": "https://app.example.test/jwks",
    }
    spec = client_spec_of(metadata, OFFERED)
    client = Client(
        client_id="c1",
        name=spec.name,
        grant_types=spec.grant_types,
        scope=spec.scope,
        redirect_uris=spec.redirect_uris,
        token_endpoint_auth_method=spec.token_endpoint_auth_method,
        registration_metadata=spec.registration_metadata,
        secret_hash="0" * 64,
    )
    information = client_information(client, "https://idp.example.test", "rat")
    assert information["registration_client_uri"] == "https://idp.example.test/register/c1"
    assert information["client_secret_expires_at"] == 0
    replayed = {name: value for name, value in information.items() if name not in ISSUED}
    assert client_spec_of(replayed, OFFERED) == spec

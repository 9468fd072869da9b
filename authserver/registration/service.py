"""What /register and /register/{client_id} do (RFC 7591 §3, RFC 7592 §2), each in the
caller's transaction: an error raised here rolls back everything, the initial access token's
use included.

The caller is checked before its metadata is read. A registration access token is an opaque
secret kept only as SHA-256 on the client's row; it is never issued again, and the client
information response of a read or an update echoes the one presented (RFC 7592 §3 requires
one in every response). A client secret is shown only in the registration response.
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session

from authserver.audit import record_event
from authserver.clients.models import PRIVATE_KEY_JWT, Client, is_client_id
from authserver.clients.registration import ClientSpec, register_client
from authserver.clients.repository import ClientRepository
from authserver.clients.secrets import verify_client_secret
from authserver.discovery import server_metadata
from authserver.errors import InvalidTokenError
from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.registration.documents import MetadataDocument, parse_metadata
from authserver.registration.fields import Metadata, invalid
from authserver.registration.metadata import client_spec_of, registered_metadata
from authserver.registration.tokens import use_initial_access_token
from authserver.settings import Settings

# RFC 7592 §2.2: fields the server issues, which an update request MUST NOT include.
ISSUED_FIELDS = (
    "registration_access_token",
    "registration_client_uri",
    "client_secret_expires_at",
    "client_id_issued_at",
)

_MISSING = "A bearer token is required."


def register(
    db: Session,
    settings: Settings,
    initial_access_token: str | None,
    document: MetadataDocument,
    now: datetime,
) -> dict[str, Any]:
    """RFC 7591 §3.1-3.2: store the client; its client information response (§3.2.1)."""
    token_id = None
    if settings.registration == "protected":
        token_id = _use_initial_access_token(db, initial_access_token, now)
    spec = client_spec_of(parse_metadata(document), offered_scopes(settings))
    client, secret = register_client(ClientRepository(db), spec)
    registration_access_token = new_opaque_secret()
    client.registration_access_token_hash = opaque_hash(registration_access_token)
    db.flush()
    _audit(db, "client.registered", client, initial_access_token=token_id)
    information = client_information(client, settings.issuer, registration_access_token)
    if secret is not None:
        information["client_secret"] = secret
    return information


def read(
    db: Session, settings: Settings, client_id: str, registration_access_token: str | None
) -> dict[str, Any]:
    """RFC 7592 §2.1: the client's current registration."""
    client = managed_client(db, client_id, registration_access_token)
    return client_information(client, settings.issuer, registration_access_token or "")


def update(
    db: Session,
    settings: Settings,
    client_id: str,
    registration_access_token: str | None,
    document: MetadataDocument,
    now: datetime,
) -> dict[str, Any]:
    """RFC 7592 §2.2: replace every metadata value; an omitted field takes its default."""
    client = managed_client(db, client_id, registration_access_token)
    metadata = parse_metadata(document)
    _check_update_request(client, metadata)
    spec = client_spec_of(metadata, offered_scopes(settings))
    if _credential_kind(spec.public, spec.token_endpoint_auth_method) != _credential_kind(
        client.is_public, client.token_endpoint_auth_method
    ):
        raise invalid(
            "token_endpoint_auth_method",
            "cannot change between none, a secret method and private_key_jwt; "
            "register a new client instead",
        )
    _apply(client, spec, now)
    db.flush()
    _audit(db, "client.updated", client)
    return client_information(client, settings.issuer, registration_access_token or "")


def delete(db: Session, client_id: str, registration_access_token: str | None) -> None:
    """RFC 7592 §2.3: remove the client; every token it holds is revoked with it."""
    client = managed_client(db, client_id, registration_access_token)
    ClientRepository(db).delete(client.client_id)
    record_event(db, "client.deleted", client_id=client.client_id, by="registration_access_token")


def managed_client(db: Session, client_id: str, registration_access_token: str | None) -> Client:
    """The dynamically registered client this token manages. An unknown client, one made
    by the CLI, and a wrong token are the same 401 (RFC 7592 §2: nothing tells whether the
    client exists), after the same work."""
    if registration_access_token is None:
        raise InvalidTokenError(description=_MISSING)
    client = ClientRepository(db).get(client_id) if is_client_id(client_id) else None
    stored = client.registration_access_token_hash if client is not None else None
    matches = verify_client_secret(registration_access_token, stored)  # hashed either way
    if client is None or not matches:
        raise InvalidTokenError(description="The registration access token is not valid.")
    return client


def client_information(
    client: Client, issuer: str, registration_access_token: str
) -> dict[str, Any]:
    """RFC 7591 §3.2.1 with RFC 7592 §3: the registered metadata, and how to manage it."""
    return {
        **registered_metadata(client),
        "registration_access_token": registration_access_token,
        "registration_client_uri": f"{issuer}/register/{client.client_id}",
    }


def offered_scopes(settings: Settings) -> Sequence[str]:
    """What a client may register: the scopes discovery says this server supports."""
    return server_metadata(settings)["scopes_supported"]


def _use_initial_access_token(db: Session, token: str | None, now: datetime) -> str:
    if token is None:
        raise InvalidTokenError(description=_MISSING)
    token_id = use_initial_access_token(db, token, now)
    if token_id is None:
        raise InvalidTokenError(description="The initial access token is not valid.")
    return token_id


def _check_update_request(client: Client, metadata: Metadata) -> None:
    for field in ISSUED_FIELDS:
        if field in metadata:
            raise invalid(field, "is issued by the server and must not be sent (RFC 7592 2.2)")
    client_id = metadata.get("client_id")
    if client_id != client.client_id:
        raise invalid("client_id", "is required and must be this client's (RFC 7592 2.2)")
    secret = metadata.get("client_secret")
    if secret is None:
        return
    if not isinstance(secret, str) or not verify_client_secret(secret, client.secret_hash):
        # RFC 7592 §2.2: a client_secret sent must match; a client never chooses its own.
        raise invalid("client_secret", "does not match this client's secret")


def _apply(client: Client, spec: ClientSpec, now: datetime) -> None:
    client.name = spec.name.strip()
    client.grant_types = spec.grant_types
    client.scope = spec.scope
    client.redirect_uris = spec.redirect_uris
    client.post_logout_redirect_uris = spec.post_logout_redirect_uris
    client.token_endpoint_auth_method = spec.token_endpoint_auth_method
    client.registration_metadata = spec.registration_metadata
    client.jwks = spec.jwks
    client.jwks_uri = spec.jwks_uri
    client.updated_at = now


def _credential_kind(public: bool, method: str | None) -> str:
    """What the client proves itself with: nothing, a secret, or its keys (RFC 7523)."""
    if public:
        return "none"
    return "keys" if method == PRIVATE_KEY_JWT else "secret"


def _audit(db: Session, event: str, client: Client, **details: object) -> None:
    record_event(
        db,
        event,
        client_id=client.client_id,
        name=client.name,
        grant_types=client.grant_types,
        token_endpoint_auth_method=client.token_endpoint_auth_method,
        **details,
    )

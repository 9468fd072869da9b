"""A pushed request's `request_uri` (RFC 9126 §2.2): stored on push, taken once at /authorize.

The request_uri is `urn:ietf:params:oauth:request_uri:` and a reference of 256 random
bits (RFC 9126 §7.1: not guessable); only the reference's SHA-256 is stored, so a
database leak gives out no usable request_uri. It is bound to the client that pushed it
and lives AUTHSERVER_PAR_TTL (at most 60 s). Rows past their expiry are deleted by
`authserver db purge`.
"""

import re
from datetime import datetime, timedelta

from sqlmodel import Session

from authserver.opaque import new_opaque_secret, opaque_hash
from authserver.par.models import PushedAuthorizationRequest
from authserver.par.repository import PushedRequestRepository

REQUEST_URI_PREFIX = "urn:ietf:params:oauth:request_uri:"
# new_opaque_secret(): 32 bytes, base64url without padding.
_REFERENCE = re.compile(r"[A-Za-z0-9_-]{43}")


def push_request(
    db: Session,
    client_id: str,
    parameters: list[tuple[str, str]],
    now: datetime,
    ttl: timedelta,
) -> str:
    """Store the authorization request's parameters; its new request_uri."""
    reference = new_opaque_secret()
    PushedRequestRepository(db).add(
        PushedAuthorizationRequest(
            reference_hash=opaque_hash(reference),
            client_id=client_id,
            parameters=[[name, value] for name, value in parameters],
            created_at=now,
            expires_at=now + ttl,
        )
    )
    return REQUEST_URI_PREFIX + reference


def is_pushed_request_uri(request_uri: str) -> bool:
    """Whether the value has the form of a request_uri of ours (RFC 9126 §2.2)."""
    reference = request_uri.removeprefix(REQUEST_URI_PREFIX)
    return reference != request_uri and bool(_REFERENCE.fullmatch(reference))


def take_request(
    db: Session, request_uri: str, client_id: str, now: datetime
) -> list[tuple[str, str]] | None:
    """The pushed parameters, once (RFC 9126 §4): None for a request_uri that is not ours,
    unknown, expired, already used, or pushed by another client (RFC 9126 §2.2: bound
    to the client)."""
    if not is_pushed_request_uri(request_uri):
        return None
    reference = request_uri.removeprefix(REQUEST_URI_PREFIX)
    pushed = PushedRequestRepository(db).take(opaque_hash(reference), client_id, now)
    if pushed is None:
        return None
    return [(name, value) for name, value in pushed.parameters]

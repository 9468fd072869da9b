"""Setting status bits when tokens are revoked (draft-ietf-oauth-status-list-18 §7.1).

Each way a token can end has its entry here, run in the transaction that ends it:
one access token (its own `status` claim names the bit), the families a condition
selects (a family, a session, a user: `tokens.repository.FamilyRepository`), and a
removed client (its families and its client_credentials blocks).
"""

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlmodel import Session, col

from authserver.statuslists.allocation import list_uri
from authserver.statuslists.repository import revoke_client_blocks, revoke_families, revoke_index
from authserver.tokens.models import TokenFamily


def revoke_token_status(db: Session, issuer: str, claims: Mapping[str, Any], now: datetime) -> bool:
    """Set the bit the token's `status` claim names, if it names one of our lists."""
    reference = claims.get("status")
    entry = reference.get("status_list") if isinstance(reference, dict) else None
    if not isinstance(entry, dict):
        return False
    uri, idx = entry.get("uri"), entry.get("idx")
    prefix = list_uri(issuer, "")
    if not isinstance(uri, str) or not uri.startswith(prefix) or type(idx) is not int:
        return False
    revoke_index(db, uri.removeprefix(prefix), idx, now)
    return True


def revoke_client_statuses(db: Session, client_id: str, now: datetime) -> None:
    """Before a client is removed (its families go with it): every token it was given."""
    revoke_families(db, col(TokenFamily.client_id) == client_id, now)
    revoke_client_blocks(db, client_id, now)

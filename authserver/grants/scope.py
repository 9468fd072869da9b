"""The granted scope: what was asked, within what the client may have (RFC 6749 §3.3)."""

from authserver.clients.models import Client
from authserver.errors import InvalidScopeError
from authserver.scopes import parse_scope


def resolve_scope(client: Client, requested: str | None) -> str:
    """The requested scope if the client may have all of it; its registered scope if none."""
    if requested is None:
        # RFC 6749 §3.3: without a scope parameter, a pre-defined default applies.
        return client.scope
    tokens = parse_scope(requested)
    if tokens is None:
        raise InvalidScopeError("The scope parameter is malformed.")
    if not client.scopes.issuperset(tokens):
        raise InvalidScopeError("The requested scope exceeds what this client may request.")
    return " ".join(tokens)

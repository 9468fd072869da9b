"""The audience of an access token from RFC 8707 `resource` parameters."""

from authserver.clients.models import Client
from authserver.errors import InvalidTargetError
from authserver.uris import resource_uri_problem


def resolve_audience(client: Client, resources: list[str], default: str) -> str | list[str]:
    """Each named resource must be one the client may ask for; none named gives `default`."""
    if not resources:
        return default
    allowed = {*client.audiences, default}
    for resource in resources:
        # RFC 8707 §2: an absolute URI without a fragment, acceptable to this server.
        if resource_uri_problem(resource) or resource not in allowed:
            raise InvalidTargetError("The requested resource is not available to this client.")
    unique = list(dict.fromkeys(resources))
    return unique[0] if len(unique) == 1 else unique


def refreshed_audience(
    client: Client, resources: list[str], default: str, granted: list[str] | None
) -> str | list[str]:
    """The audience of a refresh (RFC 8707 §2.2): without `resource`, what was granted;
    with it, a part of what was granted, never more. A family granted before it
    remembered its audience (`granted` None) is treated as before: `resolve_audience`."""
    if granted is None:
        return resolve_audience(client, resources, default)
    if not resources:
        return granted[0] if len(granted) == 1 else list(granted)
    audience = resolve_audience(client, resources, default)
    requested = [audience] if isinstance(audience, str) else audience
    if not set(requested) <= set(granted):
        raise InvalidTargetError("The requested resource exceeds the original grant.")
    return audience

"""The relying party passkeys are bound to, derived from the issuer (WebAuthn L3 §5.1.4.1
RP ID, §7.1 and §7.2: the origin in clientDataJSON).

The RP ID is the issuer's host (a domain: browsers refuse an IP address) and the one
origin accepted is the issuer's scheme, host and port. A passkey registered under one
issuer host does not work under another.
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class RelyingParty:
    id: str
    origin: str

    @property
    def name(self) -> str:
        """What the browser shows beside the account when it offers a passkey."""
        return self.id


def relying_party_of(issuer: str) -> RelyingParty:
    """The issuer `https://login.example.com:8443/auth` gives the RP ID `login.example.com`
    and the origin `https://login.example.com:8443` (a default port is left out, as in
    the HTML origin's serialization the browser puts in clientDataJSON)."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    port = parts.port
    origin = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}"
    if port is not None and port != _DEFAULT_PORTS.get(parts.scheme):
        origin += f":{port}"
    return RelyingParty(host, origin)


def passkeys_possible(issuer: str) -> bool:
    """Whether a browser lets pages of `issuer` use passkeys at all: a secure context
    (https, or http on localhost) and a domain name for the RP ID, not an IP address
    (WebAuthn L3 §5.1.4.1). The development default, http://127.0.0.1:8000, has none; the
    pages then offer no passkey rather than an error."""
    parts = urlsplit(issuer)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        pass
    local = host == "localhost" or host.endswith(".localhost")
    return parts.scheme == "https" or (parts.scheme == "http" and local)

"""Where the server may send a request of its own (CONTRACT.md, "Outbound requests").

Only to public addresses: a name that resolves to a loopback, private, link-local,
shared, reserved, multicast or unspecified address (cloud metadata at 169.254.169.254
included) is refused, unless AUTHSERVER_OUTBOUND_ALLOW_PRIVATE is true (development
mode's default). Redirects are never followed, the timeout is short and the answer is
not read beyond a few KiB (`delivery.py`). The name is resolved here and again by the
HTTP client: a resolver that answers differently the second time (DNS rebinding) is
a known limit, documented in docs/revocation.md.
"""

import ipaddress
import socket
from urllib.parse import urlsplit


def outbound_refusal(url: str, allow_private: bool) -> str | None:
    """Why a request to `url` must not be sent, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an absolute http(s) URL"
    if allow_private:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        answers = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError, UnicodeError) as error:
        return f"cannot resolve {parts.hostname}: {type(error).__name__}"
    for answer in answers:
        address = ipaddress.ip_address(str(answer[4][0]).split("%")[0])
        if not address.is_global or address.is_multicast:
            return f"{parts.hostname} resolves to a non-public address ({address})"
    return None

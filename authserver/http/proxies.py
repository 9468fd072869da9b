"""Behind a reverse proxy: X-Forwarded-For, -Proto and -Host, believed only from a proxy
listed in AUTHSERVER_TRUSTED_PROXIES (CIDRs; none by default).

From anyone else the headers are removed before the app sees them, so a client cannot
choose the address the sign-in throttle counts, nor anything derived from the scheme or
host. The client address is the rightmost X-Forwarded-For hop that is not itself a
trusted proxy (each proxy appends the address it received the request from).
"""

import re
from collections.abc import Iterable

from starlette.types import Scope

from authserver.networks import Address, Network, parse_address

_FORWARDED_FOR = b"x-forwarded-for"
_FORWARDED_PROTO = b"x-forwarded-proto"
_FORWARDED_HOST = b"x-forwarded-host"
_FORWARDED = frozenset({_FORWARDED_FOR, _FORWARDED_PROTO, _FORWARDED_HOST, b"forwarded"})
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?$")


class TrustedProxies:
    def __init__(self, networks: Iterable[Network]) -> None:
        self._networks = tuple(networks)

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in network for network in self._networks)

    def trusts_peer(self, scope: Scope) -> bool:
        """Whether the connection comes from a trusted proxy."""
        peer = scope.get("client")
        return bool(self._networks) and self.trusts(parse_address(peer[0] if peer else None))

    def apply(self, scope: Scope) -> None:
        """Rewrite the scope's client, scheme and host from a trusted proxy's headers;
        from any other peer, drop those headers."""
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if not any(name in _FORWARDED for name, _ in headers):
            return
        if not self.trusts_peer(scope):
            scope["headers"] = [(n, v) for n, v in headers if n not in _FORWARDED]
            return
        values = _last_values(headers)
        if (hops := values.get(_FORWARDED_FOR)) is not None:
            client = self._client_address(hops)
            if client is not None:
                scope["client"] = (client, 0)
        proto = values.get(_FORWARDED_PROTO, "").rpartition(",")[2].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
        host = values.get(_FORWARDED_HOST, "").rpartition(",")[2].strip()
        if host and _HOST.match(host):
            rest = [(n, v) for n, v in headers if n != b"host"]
            scope["headers"] = [(b"host", host.encode("ascii")), *rest]

    def _client_address(self, header: str) -> str | None:
        """The rightmost hop that is not a trusted proxy; None if a hop is unreadable
        (then the proxy itself stays the client: garbage is never believed)."""
        chosen: str | None = None
        for hop in reversed(header.split(",")):
            address = parse_address(hop.strip())
            if address is None:
                return chosen
            chosen = str(address)
            if not self.trusts(address):
                return chosen
        return chosen


def _last_values(headers: list[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """Each forwarding header's values, repeated headers joined with commas."""
    joined: dict[bytes, str] = {}
    for name, value in headers:
        if name in _FORWARDED:
            text = value.decode("latin-1")
            joined[name] = f"{joined[name]},{text}" if name in joined else text
    return joined

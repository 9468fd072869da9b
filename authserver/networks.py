"""IP addresses and networks named in settings (AUTHSERVER_TRUSTED_PROXIES)."""

import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

_PORT_SUFFIX = re.compile(r"^([0-9.]+):[0-9]{1,5}$")


def parse_networks(value: str) -> tuple[Network, ...]:
    """Comma- or space-separated CIDRs or addresses; raises ValueError naming a bad one."""
    networks = []
    for item in re.split(r"[\s,]+", value.strip()):
        if not item:
            continue
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or CIDR") from None
    return tuple(networks)


def parse_address(value: str | None) -> Address | None:
    """An address as proxies write it (`203.0.113.7`, `203.0.113.7:5123`,
    `[2001:db8::1]:443`, `2001:db8::1`); None for anything else."""
    if not value:
        return None
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif match := _PORT_SUFFIX.match(value):
        value = match.group(1)
    try:
        return ip_address(value)
    except ValueError:
        return None

"""Checks on URIs that clients register (RFC 9700 §2.1, RFC 8252 §7, RFC 8707 §2)."""

import ipaddress
import re
from urllib.parse import SplitResult, unquote, urlsplit

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file"})
MAX_URI_LENGTH = 2000
# RFC 8252 §7.3: an http redirect URI on a loopback IP literal, split at its port.
_LOOPBACK_REDIRECT = re.compile(
    r"http://(?P<host>127(?:\.[0-9]{1,3}){3}|\[::1\])(?::(?P<port>[0-9]{1,5}))?(?P<rest>[/?].*)?"
)


def is_loopback_host(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_matches(registered: str, requested: str) -> bool:
    """RFC 9700 §2.1: byte for byte; RFC 8252 §7.3: a loopback IP URI in any port."""
    if requested == registered:
        return True
    ours, theirs = _LOOPBACK_REDIRECT.fullmatch(registered), _LOOPBACK_REDIRECT.fullmatch(requested)
    if ours is None or theirs is None or int(theirs["port"] or 0) > 65535:
        return False
    return (ours["host"], ours["rest"]) == (theirs["host"], theirs["rest"])


def redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be registered as a redirect URI, or None when it can."""
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in uri):
        return "must be printable ASCII without spaces"
    if len(uri) > MAX_URI_LENGTH:
        return f"must be at most {MAX_URI_LENGTH} characters"
    if "*" in uri:
        return "must not contain '*': redirect URIs match exactly, never by pattern"
    if "\\" in uri:
        return "must not contain '\\' (browsers read it as '/')"
    parts = _split(uri)
    if parts is None:
        return "must be a well-formed URI (host and port)"
    scheme = parts.scheme
    if not scheme or scheme in _FORBIDDEN_SCHEMES or not _SCHEME.match(scheme):
        return "must be an absolute URI with an allowed scheme"
    if "#" in uri:
        return "must not contain a fragment (RFC 6749 §3.1.2)"
    if "@" in parts.netloc:
        return "must not contain userinfo"
    # RFC 3986 §3.3, §6.2.2.2: dot segments, "%2e" spelled or not, rooted or not.
    if ";" in uri or {".", ".."} & set(unquote(parts.path).split("/")):
        return "must not contain dot segments or ';'"
    if scheme == "https":
        return None if parts.hostname else "must name a host"
    if scheme == "http":
        # RFC 8252 §7.3 / §8.3: plain http only on a loopback IP literal.
        return (
            None
            if is_loopback_host(parts.hostname)
            else "http is allowed only on 127.0.0.1 or [::1]"
        )
    # RFC 8252 §7.1: a native app's private-use scheme is a reversed domain name.
    return None if "." in scheme else "a private-use scheme must be a reversed domain name"


def resource_uri_problem(uri: str) -> str | None:
    """RFC 8707 §2: a resource is an absolute URI without a fragment."""
    parts = _split(uri)
    if parts is None:
        return "must be a well-formed URI (host and port)"
    if not parts.scheme or not (parts.netloc or parts.path) or "#" in uri:
        return "must be an absolute URI without a fragment (RFC 8707 §2)"
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in uri):
        return "must be printable ASCII without spaces"
    return None


def _split(uri: str) -> SplitResult | None:
    """The parts of `uri`, or None where it cannot be read (a bad IPv6 literal or port)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return None
    return parts


def backchannel_logout_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a client's `backchannel_logout_uri`, or None when it can.

    OIDC Back-Channel Logout 1.0 §2.2: an absolute http(s) URL, with no fragment; the
    server POSTs to it (where it may connect is `backchannel.outbound`'s decision)."""
    return web_url_problem(uri, ("http", "https"))


def jwks_uri_problem(uri: str) -> str | None:
    """Why `uri` cannot be a client's `jwks_uri` (RFC 7591 §2), or None when it can: an
    https URL, or http on a loopback IP literal (a development machine; the outbound
    transport still refuses it unless AUTHSERVER_OUTBOUND_ALLOW_PRIVATE)."""
    parts = _split(uri)
    if parts is not None and parts.scheme == "http" and is_loopback_host(parts.hostname):
        return web_url_problem(uri, ("http",))
    return web_url_problem(uri, ("https",))


def web_url_problem(uri: str, schemes: tuple[str, ...]) -> str | None:
    """Why `uri` is not an absolute URL of one of `schemes` with a host, no userinfo and
    no fragment (a URL this server calls or shows), or None when it is."""
    if any(ord(c) <= 0x20 or ord(c) >= 0x7F for c in uri):
        return "must be printable ASCII without spaces"
    if len(uri) > MAX_URI_LENGTH:
        return f"must be at most {MAX_URI_LENGTH} characters"
    parts = _split(uri)
    if parts is None or parts.scheme not in schemes or not parts.hostname:
        return f"must be an absolute {' or '.join(schemes)} URL with a host"
    if "#" in uri:
        return "must not contain a fragment"
    if "@" in parts.netloc:
        return "must not contain userinfo"
    return None

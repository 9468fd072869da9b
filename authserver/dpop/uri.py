"""Comparing a proof's `htu` with the request's URI (RFC 9449 §4.3 step 9) after the
normalizations RFC 3986 §6.2.2 (syntax-based) and §6.2.3 (scheme-based) describe."""

import re
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT_ENCODED = re.compile(r"%([0-9A-Fa-f]{2})")
# RFC 3986 §2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def normalized_uri(uri: str) -> str | None:
    """`scheme://host[:port]/path` of an http(s) URI, query and fragment dropped; None for
    anything else (another scheme, no host, userinfo, a bad port).

    RFC 3986 §6.2.2.1 scheme and host in lower case, percent-encodings in upper case;
    §6.2.2.2 unreserved characters decoded; §6.2.2.3 dot-segments removed; §6.2.3 the
    default port dropped and an empty path made `/`.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal (RFC 3986 §3.2.2)
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = remove_dot_segments(_PERCENT_ENCODED.sub(_normalized_octet, parts.path)) or "/"
    return f"{scheme}://{netloc}{path}"


def remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4, as written there."""
    output: list[str] = []
    while path:
        if path.startswith("../"):
            path = path[3:]
        elif path.startswith(("./", "/./")):
            path = path[2:]
        elif path == "/.":
            path = "/"
        elif path.startswith("/../"):
            path = path[3:]
            _drop_last_segment(output)
        elif path == "/..":
            path = "/"
            _drop_last_segment(output)
        elif path in (".", ".."):
            path = ""
        else:
            start = 1 if path.startswith("/") else 0
            end = path.find("/", start)
            end = len(path) if end < 0 else end
            output.append(path[:end])
            path = path[end:]
    return "".join(output)


def _drop_last_segment(output: list[str]) -> None:
    if output:
        output.pop()


def _normalized_octet(match: re.Match[str]) -> str:
    character = chr(int(match.group(1), 16))
    return character if character in _UNRESERVED else f"%{match.group(1).upper()}"

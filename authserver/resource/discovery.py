"""The issuer's metadata names its endpoints (OpenID Connect Discovery 1.0 §4, RFC 8414 §3)."""

from urllib.parse import urlsplit

from authserver.resource.documents import Document, FetchError

METADATA_PATH = "/.well-known/openid-configuration"


def check_issuer(issuer: str) -> str:
    """The issuer as configured: an absolute http(s) URL without query or fragment (RFC 8414 §2)."""
    parts = urlsplit(issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("the issuer must be an absolute https URL")
    if parts.query or parts.fragment or "#" in issuer or parts.username is not None:
        raise ValueError("the issuer must have no query, fragment or userinfo")
    return issuer


def metadata_url(issuer: str) -> str:
    # OIDC Discovery 1.0 §4.1: the well-known path is appended to the issuer.
    return issuer.rstrip("/") + METADATA_PATH


def endpoint_from(document: Document, issuer: str, name: str) -> str:
    """The URL `name` (say `jwks_uri`) from the metadata of exactly this issuer."""
    metadata = document.json_object()
    # OIDC Discovery 1.0 §4.3, RFC 8414 §3.3: the issuer in the metadata is the one we trust,
    # compared exactly; otherwise the keys could be another issuer's.
    if metadata.get("issuer") != issuer:
        raise FetchError(f"{document.url} describes another issuer")
    return check_endpoint(metadata.get(name), issuer, name)


def check_endpoint(url: object, issuer: str, name: str) -> str:
    """RFC 8414 §2: endpoints use https; http only beside an http issuer (development)."""
    schemes = ("https",) if issuer.startswith("https:") else ("https", "http")
    if not isinstance(url, str) or urlsplit(url).scheme not in schemes:
        raise FetchError(f"the issuer's {name} is missing or not an {schemes[0]} URL")
    if not urlsplit(url).hostname:
        raise FetchError(f"the issuer's {name} has no host")
    return url


def check_configured_endpoint(url: str | None, issuer: str, name: str) -> str | None:
    """As `check_endpoint`, for a URL given to a constructor (None: discover it later)."""
    if url is None:
        return None
    try:
        return check_endpoint(url, issuer, name)
    except FetchError as error:
        raise ValueError(str(error)) from None

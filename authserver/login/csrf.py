"""CSRF tokens bound to the browser and to the request they protect (RFC 9700 §4.7).

The browser holds a random secret in an HttpOnly cookie; a form's token is an HMAC of
what the form is for ("login", or a consent's client and scope), keyed by that secret.
A page on another site can neither read the cookie nor compute the token, and a token
taken from one form does not fit another.
"""

import base64
import hashlib
import hmac
from urllib.parse import urlencode

from authserver.opaque import new_opaque_secret


def new_browser_secret() -> str:
    return new_opaque_secret()


def csrf_token(browser_secret: str, purpose: str) -> str:
    key = browser_secret.encode("utf-8", "surrogatepass")
    digest = hmac.new(key, purpose.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token_matches(browser_secret: str | None, purpose: str, presented: str | None) -> bool:
    if not browser_secret or not presented:
        return False
    expected = csrf_token(browser_secret, purpose).encode()
    # As bytes: compare_digest refuses str with non-ASCII characters (a hostile form).
    return hmac.compare_digest(expected, presented.encode("utf-8", "surrogatepass"))


def parameters_digest(pairs: list[tuple[str, str]]) -> str:
    """Request parameters, whatever their order, as one hash to bind a token to."""
    return hashlib.sha256(urlencode(sorted(pairs)).encode()).hexdigest()

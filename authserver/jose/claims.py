"""The claims of a verified JWT: RFC 7519 §4.1, RFC 9068 §4 steps 3, 4 and 6, RFC 8725 §3.8-3.9."""

from dataclasses import dataclass
from typing import Any

from authserver.jose.compact import json_object
from authserver.jose.errors import JwtRejected

ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105 - RFC 9068 §2.1, a media type, no secret
# draft-ietf-oauth-status-list-18 §5.1: the `typ` of a Status List Token.
STATUS_LIST_TOKEN_TYPE = "statuslist+jwt"  # noqa: S105 - a media type, no secret
# OpenID Connect Back-Channel Logout 1.0 §2.4: a Logout Token's `typ` and its event.
LOGOUT_TOKEN_TYPE = "logout+jwt"  # noqa: S105 - a media type, no secret
LOGOUT_EVENT = "http://schemas.openid.net/event/backchannel-logout"
ACCESS_TOKEN_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat", "jti", "client_id"})
ID_TOKEN_CLAIMS = frozenset({"iss", "sub", "aud", "exp", "iat"})
_STRING_CLAIMS = ("sub", "jti", "client_id")


@dataclass(frozen=True, slots=True)
class JwtRules:
    """What a token must be for one use.

    - `typ`: the media type, lower case, without `application/` (`at+jwt`, `jwt`);
    - `algorithms`: the allow-list (RFC 8725 §3.1);
    - `issuer`: compared exactly with `iss` (RFC 8725 §3.8);
    - `audience`: one value `aud` must contain (RFC 8725 §3.9), or None where every
      audience is accepted (the issuer's own introspection and userinfo);
    - `required`: the claims that must be present (RFC 9068 §2.2 for access tokens);
    - `leeway`: seconds of clock skew allowed on a future `iat` or `nbf`;
    - `expiry_leeway`: seconds allowed past `exp` (a resource service, whose clock is
      not the issuer's; 0 at the issuer, which judges its own tokens by its own clock);
    - `check_expiry`: False where an expired token is still read (an `id_token_hint`,
      introspection answering `active: false`);
    - `max_bytes`: the longest token read (8 KiB; more for a Status List Token).
    """

    typ: str
    issuer: str
    audience: str | None = None
    algorithms: frozenset[str] = frozenset({"RS256"})
    required: frozenset[str] = ACCESS_TOKEN_CLAIMS
    leeway: int = 60
    expiry_leeway: int = 0
    check_expiry: bool = True
    max_bytes: int = 8 * 1024


def check_claims(payload: bytes, rules: JwtRules, now: int) -> dict[str, Any]:
    """The claims of a token whose signature verified, once every rule holds."""
    claims = json_object(payload)
    if not claims.keys() >= rules.required:
        missing = sorted(rules.required - claims.keys())
        raise JwtRejected(f"the token lacks the claims {' '.join(missing)}")
    # RFC 8725 §3.8, RFC 9068 §4 step 3: the issuer matches exactly.
    if claims.get("iss") != rules.issuer:
        raise JwtRejected("the token was not issued by the expected issuer")
    # RFC 8725 §3.9, RFC 9068 §4 step 4: the audience names this service.
    if rules.audience is not None and not _audience_contains(claims.get("aud"), rules.audience):
        raise JwtRejected("the token is not meant for this service (aud)")
    for name in _STRING_CLAIMS:
        value = claims.get(name, "x")
        if not isinstance(value, str) or not value:
            raise JwtRejected(f"the token's {name} must be a non-empty string")
    if not isinstance(claims.get("scope", ""), str):
        raise JwtRejected("the token's scope must be a string")
    _check_dates(claims, rules, now)
    return claims


def _check_dates(claims: dict[str, Any], rules: JwtRules, now: int) -> None:
    exp, iat, nbf = claims.get("exp", 0), claims.get("iat", 0), claims.get("nbf", 0)
    # JSON numbers are int or float; bool is the int subclass `true` and `false` become.
    if type(exp) is not int or type(iat) is not int or type(nbf) is not int:
        raise JwtRejected("the token's exp, iat and nbf must be integers")
    # RFC 7519 §4.1.4, RFC 9068 §4 step 6: expired.
    if rules.check_expiry and now >= exp + rules.expiry_leeway:
        raise JwtRejected("the token has expired")
    # RFC 7519 §4.1.5: not before.
    if nbf > now + rules.leeway:
        raise JwtRejected("the token is not valid yet (nbf)")
    if iat > now + rules.leeway:
        raise JwtRejected("the token was issued in the future (iat)")


def _audience_contains(aud: object, audience: str) -> bool:
    # RFC 7519 §4.1.3: one string, or an array of strings.
    if isinstance(aud, str):
        return aud == audience
    return isinstance(aud, list) and all(isinstance(a, str) for a in aud) and audience in aud

"""The `claims` request parameter (OIDC Core §5.5): user claims asked for one by one.

Its value is a JSON object; its `userinfo` and `id_token` members are objects naming
claims, each with null or an object (`essential`, `value`, `values`) as the request for
it (§5.5.1). Other top-level members, and members of a claim's request we do not
understand, are ignored (§5.5, §5.5.1); so are claims we do not know. A malformed value
is `invalid_request`.

What we do with it: each known user claim (`users.claims.USER_CLAIMS`) asked for goes
where asked (the id_token, /userinfo), on top of what the scope gives (§5.5), provided
the client is registered for the scope that would release it; the user consents to that
scope too. Only the claim names are kept, with the code and then the token family:
`essential`, `value` and `values` change nothing (a claim is sent with the user's
value, or left out; §5.5.1: never an error), except a `sub` value for the id_token,
which must name the signed-in user (§5.5.1).
"""

from dataclasses import dataclass
from typing import Any

from authserver.errors import InvalidRequestError
from authserver.strict_json import StrictJsonError, strict_json_object
from authserver.users.claims import SCOPE_OF_CLAIM, USER_CLAIMS

# Far above any sensible request for the few claims we know; bounds the JSON parser.
MAX_CLAIMS_LENGTH = 4096
_MEMBERS = ("id_token", "userinfo")


@dataclass(frozen=True)
class ClaimsRequest:
    """The known user claims asked for in the id_token and at /userinfo, and the
    subject the id_token must be about, if the request names one."""

    id_token: frozenset[str] = frozenset()
    userinfo: frozenset[str] = frozenset()
    subject: str | None = None

    @property
    def scopes(self) -> frozenset[str]:
        """The scopes that release the claims asked for (OIDC Core §5.4)."""
        return frozenset(SCOPE_OF_CLAIM[name] for name in self.id_token | self.userinfo)

    def within(self, scopes: frozenset[str]) -> "ClaimsRequest":
        """Only the claims that one of `scopes` (the client's) would release."""
        allowed = frozenset(name for name, scope in SCOPE_OF_CLAIM.items() if scope in scopes)
        return ClaimsRequest(self.id_token & allowed, self.userinfo & allowed, self.subject)

    def stored(self) -> dict[str, list[str]] | None:
        """The claim names by member, in a fixed order; None when nothing is asked."""
        stored = {
            member: [name for name in USER_CLAIMS if name in getattr(self, member)]
            for member in _MEMBERS
        }
        compact = {member: names for member, names in stored.items() if names}
        return compact or None

    @classmethod
    def from_stored(cls, stored: object) -> "ClaimsRequest":
        """What `stored` kept (None for a grant that had no `claims` parameter)."""
        if not isinstance(stored, dict):
            return cls()
        id_token, userinfo = (_known(stored.get(member)) for member in _MEMBERS)
        return cls(id_token, userinfo)


def parse_claims_request(value: str | None) -> ClaimsRequest:
    """The `claims` parameter's request; raises `invalid_request` for a malformed one."""
    if value is None:
        return ClaimsRequest()
    if len(value) > MAX_CLAIMS_LENGTH:
        raise InvalidRequestError("The claims parameter is too long.")
    document = _json_object(value)
    id_token = _member(document, "id_token")
    return ClaimsRequest(
        id_token=_known(list(id_token)),
        userinfo=_known(list(_member(document, "userinfo"))),
        subject=_subject(id_token),
    )


def _known(names: object) -> frozenset[str]:
    """The names in `names` (a JSON array) that are user claims we know."""
    if not isinstance(names, list):
        return frozenset()
    return frozenset(name for name in names if isinstance(name, str) and name in USER_CLAIMS)


def _json_object(value: str) -> dict[str, Any]:
    # OIDC Core §5.5: UTF-8 encoded JSON, read strictly (`strict_json`).
    try:
        return strict_json_object(value)
    except StrictJsonError as refusal:
        raise InvalidRequestError(f"The claims parameter is refused: {refusal}.") from None


def _member(document: dict[str, Any], member: str) -> dict[str, Any]:
    """The individual claim requests of `member` (OIDC Core §5.5.1), checked."""
    if member not in document:
        return {}
    requests = document[member]
    if not isinstance(requests, dict):
        raise InvalidRequestError(f"The claims parameter member {member} must be an object.")
    for request in requests.values():
        if request is None:
            continue
        if not isinstance(request, dict):
            raise InvalidRequestError("Each requested claim must be null or an object.")
        if not isinstance(request.get("essential", False), bool):
            raise InvalidRequestError("essential in the claims parameter must be a boolean.")
        if not isinstance(request.get("values", []), list):
            raise InvalidRequestError("values in the claims parameter must be an array.")
    return requests


def _subject(id_token: dict[str, Any]) -> str | None:
    """OIDC Core §5.5.1: `sub` asked for the id_token with a value names the only user
    the answer may be about."""
    request = id_token.get("sub")
    value = request.get("value") if isinstance(request, dict) else None
    if value is not None and not isinstance(value, str):
        raise InvalidRequestError("The sub value in the claims parameter must be a string.")
    return value

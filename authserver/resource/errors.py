"""What a resource service answers when a bearer token fails (RFC 6750 §3, §3.1), or a
DPoP-bound one (RFC 9449 §7.1: the same errors, in a `DPoP` challenge naming `algs`).

    BearerTokenError            an RFC 6750 §3.1 error, with its `WWW-Authenticate` challenge
     ├── InvalidRequest         400 invalid_request: a malformed `Authorization` header
     ├── InvalidToken           401 invalid_token: expired, forged, revoked, not for us...
     ├── InvalidDPoPProof       401 invalid_dpop_proof: no DPoP proof, or a bad one (RFC 9449)
     └── InsufficientScope      403 insufficient_scope: a good token without the scope
    IssuerUnavailable           the issuer's keys or introspection could not be reached:
                                the token is neither valid nor invalid (answer 503)

Descriptions are public: they go back to the caller, so they say what failed, never echo
the token, and are made safe for a quoted-string (RFC 6750 §3: no `"` or `\\`).
"""

from collections.abc import Iterable
from typing import ClassVar, Self

_MAX_DESCRIPTION = 200


class BearerTokenError(Exception):
    """An RFC 6750 §3.1 error code, its HTTP status and a public description."""

    error: ClassVar[str]
    status_code: ClassVar[int]
    # The authentication scheme of the challenge: Bearer, or DPoP (RFC 9449 §7.1) with
    # the proof algorithms accepted (`algs`).
    scheme: str = "Bearer"
    algs: tuple[str, ...] = ()

    def __init__(self, description: str) -> None:
        self.description = quote_safe(description)
        super().__init__(self.description)

    def challenge_parameters(self) -> list[tuple[str, str]]:
        return [("error", self.error), ("error_description", self.description)]

    def in_dpop_scheme(self, algorithms: Iterable[str]) -> Self:
        """This error, answered with a DPoP challenge (RFC 9449 §7.1): the request used
        the DPoP scheme, so that is the challenge that carries the error (§7.2)."""
        self.scheme = "DPoP"
        self.algs = tuple(sorted(algorithms))
        return self

    @property
    def www_authenticate(self) -> str:
        """The `WWW-Authenticate` value, e.g. `Bearer error="invalid_token", ...` (RFC 6750 §3)."""
        if self.scheme == "DPoP":
            return dpop_challenge(self.algs, self.challenge_parameters())
        return bearer_challenge(self.challenge_parameters())

    def as_dict(self) -> dict[str, str]:
        """The JSON body: `{"error": ..., "error_description": ...}` (as RFC 6749 §5.2)."""
        return {"error": self.error, "error_description": self.description}


class InvalidRequest(BearerTokenError):
    """RFC 6750 §3.1: the request is malformed (say, two `Authorization` headers)."""

    error = "invalid_request"
    status_code = 400


class InvalidToken(BearerTokenError):
    """RFC 6750 §3.1: the token is expired, revoked, malformed, or invalid for other reasons."""

    error = "invalid_token"
    status_code = 401


class InvalidDPoPProof(BearerTokenError):
    """RFC 9449 §7.1: the DPoP proof is missing or fails a check of §4.3 (say, replayed)."""

    error = "invalid_dpop_proof"
    status_code = 401
    scheme = "DPoP"


class InsufficientScope(BearerTokenError):
    """RFC 6750 §3.1: the token is good but lacks scope that the request needs."""

    error = "insufficient_scope"
    status_code = 403

    def __init__(self, required: Iterable[str]) -> None:
        self.required = tuple(dict.fromkeys(required))
        super().__init__(f"the request needs the scope {' '.join(self.required)}")

    def challenge_parameters(self) -> list[tuple[str, str]]:
        # RFC 6750 §3: `scope` names the scope needed to access the resource.
        return [*super().challenge_parameters(), ("scope", quote_safe(" ".join(self.required)))]


class IssuerUnavailable(Exception):
    """The issuer's discovery, JWKS or introspection endpoint failed; try again later."""


def bearer_challenge(parameters: Iterable[tuple[str, str]] = ()) -> str:
    """`Bearer` followed by `name="value"` pairs (RFC 6750 §3, RFC 9110 §11.6.1)."""
    rendered = ", ".join(f'{name}="{quote_safe(value)}"' for name, value in parameters)
    return f"Bearer {rendered}" if rendered else "Bearer"


def dpop_challenge(algorithms: Iterable[str], parameters: Iterable[tuple[str, str]] = ()) -> str:
    """`DPoP` followed by the parameters and `algs` (RFC 9449 §7.1)."""
    rendered = [f'{name}="{quote_safe(value)}"' for name, value in parameters]
    algs = " ".join(algorithms)
    if algs:
        rendered.append(f'algs="{quote_safe(algs)}"')
    return f"DPoP {', '.join(rendered)}" if rendered else "DPoP"


def quote_safe(text: str) -> str:
    """Keep RFC 6750 §3's characters (%x20-21 / %x23-5B / %x5D-7E): no `"`, `\\` or controls."""
    cleaned = text.replace('"', "'").replace("\\", "/")
    return "".join(c if " " <= c <= "~" else "?" for c in cleaned)[:_MAX_DESCRIPTION]

"""What the key store records of each signing key, and the states it moves through.

    next ──rotate──▶ current ──rotate──▶ retired ──(tokens expired)──▶ removed

`next` is published but does not sign, so verifiers already hold it when it starts to;
`retired` stays published until every token it signed has expired.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from authserver.jose import JwtRejected, public_key_from_jwk, thumbprint
from authserver.jose.jwk import THUMBPRINT_MEMBERS
from authserver.keys.algorithms import DEFAULT_ALGORITHM, KEY_TYPES

KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


class KeyState(StrEnum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyRecord:
    """`public_jwk` holds the members RFC 7638 §3.2 requires of its `kty`, nothing else;
    `alg` is the one algorithm the key signs with (stored in the public JWK's JSON, but
    for RS256, the alg of every key of the stores before, so those read as they were)."""

    kid: str
    state: KeyState
    public_jwk: dict[str, str]
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None
    # Fixed at retirement, so a later change of settings cannot shorten it.
    remove_after: datetime | None = None
    alg: str = DEFAULT_ALGORITHM

    def promoted(self, now: datetime) -> "KeyRecord":
        return replace(self, state=KeyState.CURRENT, activated_at=now)

    def retired(self, now: datetime, retention: timedelta) -> "KeyRecord":
        return replace(self, state=KeyState.RETIRED, retired_at=now, remove_after=now + retention)

    def expired(self, now: datetime) -> bool:
        """A retired key whose tokens have all expired: no longer published."""
        return self.remove_after is not None and self.remove_after <= now

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "state": self.state.value,
            "public_jwk": self.stored_jwk(),
            "created_at": self.created_at.isoformat(),
            "activated_at": _iso(self.activated_at),
            "retired_at": _iso(self.retired_at),
            "remove_after": _iso(self.remove_after),
        }

    def stored_jwk(self) -> dict[str, str]:
        """The public JWK as the stores keep it: with `alg`, unless it is RS256."""
        if self.alg == DEFAULT_ALGORITHM:
            return self.public_jwk
        return {**self.public_jwk, "alg": self.alg}

    def published_jwk(self) -> dict[str, str]:
        """RFC 7517 §4: the key in the JWKS, public members only, with its own `alg`."""
        return {**self.public_jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "KeyRecord":
        kid = data["kid"]
        if not isinstance(kid, str) or not KID_PATTERN.match(kid):
            raise ValueError("a key id in the key store is malformed")
        stored = data["public_jwk"]
        if not isinstance(stored, dict):
            raise TypeError("a public key in the key store is not a JSON object")
        public_jwk, alg = public_members(stored), stored.get("alg", DEFAULT_ALGORITHM)
        # Publish only the public members, and only if they are the key the kid names,
        # a valid key of the type its alg needs.
        if not _fits(public_jwk, alg) or thumbprint(public_jwk) != kid:
            raise ValueError("a public key in the key store does not match its kid")
        return cls(
            kid=kid,
            state=KeyState(data["state"]),
            public_jwk=public_jwk,
            created_at=datetime.fromisoformat(data["created_at"]),
            activated_at=_from_iso(data.get("activated_at")),
            retired_at=_from_iso(data.get("retired_at")),
            remove_after=_from_iso(data.get("remove_after")),
            alg=alg,
        )


def public_members(jwk: dict[str, Any]) -> dict[str, str]:
    """The members RFC 7638 §3.2 requires of the key's `kty`: its public part."""
    members = THUMBPRINT_MEMBERS.get(jwk["kty"])
    if members is None:
        raise ValueError("a key in the key store is not RSA, EC or OKP")
    return {name: str(jwk[name]) for name in members}


def _fits(public_jwk: dict[str, str], alg: object) -> bool:
    if not isinstance(alg, str) or alg not in KEY_TYPES:
        return False
    kty, crv = KEY_TYPES[alg]
    if public_jwk["kty"] != kty or public_jwk.get("crv") != crv:
        return False
    try:
        public_key_from_jwk({**public_jwk, "alg": alg})
    except JwtRejected:
        return False
    return True


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

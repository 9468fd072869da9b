"""What the key store records of each signing key, and the states it moves through.

    next ──rotate──▶ current ──rotate──▶ retired ──(tokens expired)──▶ removed

`next` is published but does not sign, so verifiers already hold it when it starts to;
`retired` stays published until every token it signed has expired.
"""

import base64
import hashlib
import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
PUBLIC_MEMBERS = ("e", "kty", "n")


class KeyState(StrEnum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    state: KeyState
    public_jwk: dict[str, str]
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None
    # Fixed at retirement, so a later change of settings cannot shorten it.
    remove_after: datetime | None = None

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
            "public_jwk": self.public_jwk,
            "created_at": self.created_at.isoformat(),
            "activated_at": _iso(self.activated_at),
            "retired_at": _iso(self.retired_at),
            "remove_after": _iso(self.remove_after),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "KeyRecord":
        kid = data["kid"]
        if not isinstance(kid, str) or not KID_PATTERN.match(kid):
            raise ValueError("a key id in the key store is malformed")
        # Publish only the public members, and only if they are the key the kid names.
        public_jwk = {name: str(data["public_jwk"][name]) for name in PUBLIC_MEMBERS}
        if public_jwk["kty"] != "RSA" or rfc7638_thumbprint(public_jwk) != kid:
            raise ValueError("a public key in the key store does not match its kid")
        return cls(
            kid=kid,
            state=KeyState(data["state"]),
            public_jwk=public_jwk,
            created_at=datetime.fromisoformat(data["created_at"]),
            activated_at=_from_iso(data.get("activated_at")),
            retired_at=_from_iso(data.get("retired_at")),
            remove_after=_from_iso(data.get("remove_after")),
        )


def rfc7638_thumbprint(public_jwk: dict[str, str]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, without whitespace."""
    canonical = json.dumps(
        {name: public_jwk[name] for name in PUBLIC_MEMBERS}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

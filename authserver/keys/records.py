"""What the key store records of each signing key, and the states it moves through.

    next ──rotate──▶ current ──rotate──▶ retired ──(tokens expired)──▶ removed

`next` is published but does not sign, so verifiers already hold it when it starts to;
`retired` stays published until every token it signed has expired.
"""

import re
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,128}$")


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

    def promoted(self, now: datetime) -> "KeyRecord":
        return replace(self, state=KeyState.CURRENT, activated_at=now)

    def retired(self, now: datetime) -> "KeyRecord":
        return replace(self, state=KeyState.RETIRED, retired_at=now)

    def to_json(self) -> dict[str, Any]:
        return {
            "kid": self.kid,
            "state": self.state.value,
            "public_jwk": self.public_jwk,
            "created_at": self.created_at.isoformat(),
            "activated_at": _iso(self.activated_at),
            "retired_at": _iso(self.retired_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "KeyRecord":
        kid = data["kid"]
        if not isinstance(kid, str) or not KID_PATTERN.match(kid):
            raise ValueError("a key id in the key store is malformed")
        return cls(
            kid=kid,
            state=KeyState(data["state"]),
            public_jwk={k: str(v) for k, v in data["public_jwk"].items()},
            created_at=datetime.fromisoformat(data["created_at"]),
            activated_at=_from_iso(data.get("activated_at")),
            retired_at=_from_iso(data.get("retired_at")),
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None

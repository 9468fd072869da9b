"""The published JWK Set (RFC 7517 §5): public members only, serialised once per change."""

import hashlib
import json
from dataclasses import dataclass

from authserver.keys.records import KeyRecord


@dataclass(frozen=True)
class JwksDocument:
    body: bytes
    etag: str

    def matches(self, if_none_match: str | None) -> bool:
        """RFC 9110 §13.1.2: weak comparison against a list of entity tags, or `*`."""
        if not if_none_match:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or self.etag in tags


def build_jwks(records: list[KeyRecord]) -> JwksDocument:
    keys = [
        {**record.public_jwk, "kid": record.kid, "alg": "RS256", "use": "sig"} for record in records
    ]
    body = json.dumps({"keys": keys}, separators=(",", ":")).encode("ascii")
    return JwksDocument(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')

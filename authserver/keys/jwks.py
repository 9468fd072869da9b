"""The published JWK Set (RFC 7517 §5): public members only, serialised once per change."""

import hashlib
import json
from dataclasses import dataclass

from authserver.etags import entity_tag_matches
from authserver.keys.records import KeyRecord


@dataclass(frozen=True)
class JwksDocument:
    body: bytes
    etag: str

    def matches(self, if_none_match: str | None) -> bool:
        return entity_tag_matches(self.etag, if_none_match)


def build_jwks(records: list[KeyRecord]) -> JwksDocument:
    # Each key with its own `alg` (RFC 7517 §4.4), which pins it for every verifier.
    keys = [record.published_jwk() for record in records]
    body = json.dumps({"keys": keys}, separators=(",", ":")).encode("ascii")
    return JwksDocument(body=body, etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')

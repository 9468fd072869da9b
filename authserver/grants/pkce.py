"""PKCE (RFC 7636), stricter than Authlib's defaults: required for every client, S256 only.

Authlib accepts `plain`, treats a missing method as `plain` and lets confidential
clients skip PKCE; RFC 9700 §2.1.1 and our CONTRACT.md require S256 from everyone.
"""

import hmac
from typing import Any

from authlib.oauth2.rfc7636 import CodeChallenge, create_s256_code_challenge
from authlib.oauth2.rfc7636.challenge import CODE_VERIFIER_PATTERN

from authserver.errors import InvalidGrantError, InvalidRequestError

S256 = "S256"
# BASE64URL(SHA-256(...)) without padding is always 43 characters (RFC 7636 §4.2).
_S256_CHALLENGE_LENGTH = 43


class S256CodeChallenge(CodeChallenge):
    SUPPORTED_CODE_CHALLENGE_METHOD = [S256]  # noqa: RUF012 - Authlib's attribute

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        challenge = data.get("code_challenge")
        method = data.get("code_challenge_method")
        # RFC 7636 §4.3: without a method the server would assume "plain", which we refuse.
        if not challenge:
            raise InvalidRequestError("code_challenge is required (PKCE, S256).")
        if method != S256:
            raise InvalidRequestError("code_challenge_method must be S256.")
        if len(challenge) != _S256_CHALLENGE_LENGTH:
            raise InvalidRequestError("code_challenge is malformed.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        request = grant.request
        verifier = request.form.get("code_verifier")
        # SECURITY-CHECKLIST /token: missing or wrong verifier -> invalid_grant,
        # a malformed one -> invalid_request (RFC 7636 §4.1 grammar).
        if not verifier:
            raise InvalidGrantError("code_verifier is required.")
        if not CODE_VERIFIER_PATTERN.match(verifier):
            raise InvalidRequestError("code_verifier is malformed.")
        expected = request.authorization_code.code_challenge
        # RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
        if not hmac.compare_digest(create_s256_code_challenge(verifier), expected):
            raise InvalidGrantError("code_verifier does not match the code_challenge.")

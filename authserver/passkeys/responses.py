"""What the two ceremonies share: reading the browser's `PublicKeyCredential` (as JSON,
WebAuthn L3 §5.1.8 `toJSON()`), consuming the challenge its client data names, and the
credentials named back to the browser.

A response that cannot be read raises `InvalidRequestError`; one whose challenge was not
this browser's for this ceremony, or expired, or was used, `AccessDeniedError`.
"""

from datetime import datetime, timedelta
from typing import Any, Final

from sqlmodel import Session
from webauthn.helpers import (
    base64url_to_bytes,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticationCredential,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    RegistrationCredential,
)

from authserver.errors import AccessDeniedError, InvalidRequestError
from authserver.passkeys.challenges import CHALLENGE_TTL, consume_challenge
from authserver.passkeys.models import Passkey, WebAuthnChallenge

ALGORITHMS: Final = [
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
# The browser's timeout (a hint, §5.4 `timeout`) is the challenge's lifetime.
TIMEOUT_MS: Final = int(CHALLENGE_TTL / timedelta(milliseconds=1))
# py_webauthn raises its own errors for what it checks, and Python's for input of a
# shape it does not expect (a CBOR map where bytes belong, bad base64url).
UNREADABLE: Final = (WebAuthnException, ValueError, TypeError, LookupError, OverflowError)
NOT_VERIFIED: Final = "The passkey could not be verified."
_MALFORMED = "The passkey response is malformed."
_EXPIRED = "The passkey request expired or was used already. Please try again."


def user_handle(user_id: int) -> bytes:
    """The user handle (§5.4.3) of an account: its id as 8 bytes. Every passkey of the
    account shares it, and it names no person (§14.6.1)."""
    return user_id.to_bytes(8, "big")


def registration_credential(credential: object) -> RegistrationCredential:
    try:
        return parse_registration_credential_json(_credential_object(credential))
    except UNREADABLE:
        raise InvalidRequestError(_MALFORMED) from None


def authentication_credential(credential: object) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(_credential_object(credential))
    except UNREADABLE:
        raise InvalidRequestError(_MALFORMED) from None


def client_data_challenge(client_data_json: bytes) -> bytes:
    """The challenge `clientDataJSON` carries (§5.8.1), not yet checked."""
    try:
        return parse_client_data_json(client_data_json).challenge
    except UNREADABLE:
        raise InvalidRequestError(_MALFORMED) from None


def consumed_challenge(
    db: Session, client_data_json: bytes, purpose: str, binding: str, now: datetime
) -> WebAuthnChallenge:
    """The challenge the response answers, consumed: it was issued for `purpose` to this
    browser (`binding`) and is live, else AccessDeniedError (§13.4.3)."""
    challenge = client_data_challenge(client_data_json)
    issued = consume_challenge(db, challenge, purpose, binding, now)
    if issued is None:
        raise AccessDeniedError(_EXPIRED)
    return issued


def descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    """A credential to exclude or allow, with the transports its authenticator named
    (§5.8.3), so that the browser knows where to look for it."""
    transports = [AuthenticatorTransport(name) for name in passkey.transports.split()]
    return PublicKeyCredentialDescriptor(
        id=base64url_to_bytes(passkey.credential_id), transports=transports or None
    )


def _credential_object(credential: object) -> dict[str, Any]:
    if not isinstance(credential, dict):
        raise InvalidRequestError("The passkey response is missing.")
    return credential

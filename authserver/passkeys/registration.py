"""Registering a passkey (WebAuthn L3 §7.1) from the account page, and removing one.

A passkey is a discoverable credential (`residentKey: required`, §5.4.6), so that a
sign-in needs no username. User verification is preferred, not required, so that a
security key without a PIN can still serve as a second factor (a sign-in with a passkey
alone requires it, authentication.py). Attestation is `none` (§5.4.7): no authenticator
model is trusted over another. py_webauthn builds the options and verifies the response.
"""

from datetime import datetime
from typing import Any, Final

from sqlmodel import Session
from webauthn import generate_registration_options, verify_registration_response
from webauthn.helpers import bytes_to_base64url, options_to_json_dict
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from authserver.audit import record_event
from authserver.errors import AccessDeniedError, InvalidRequestError
from authserver.passkeys.challenges import REGISTRATION, issue_challenge
from authserver.passkeys.models import Passkey
from authserver.passkeys.relying_party import RelyingParty
from authserver.passkeys.repository import PasskeyRepository
from authserver.passkeys.responses import (
    ALGORITHMS,
    NOT_VERIFIED,
    TIMEOUT_MS,
    UNREADABLE,
    client_data_challenge,
    consumed_challenge,
    descriptor,
    registration_credential,
    user_handle,
)
from authserver.users.models import User

MAX_PASSKEYS: Final = 20
MAX_NAME_LENGTH: Final = 100
# §5.8.3: a credential id has at most 1023 bytes; the columns hold base64url.
_MAX_CREDENTIAL_ID_BYTES: Final = 1023
_MAX_PUBLIC_KEY_CHARACTERS: Final = 2000
_TOO_MANY = f"At most {MAX_PASSKEYS} passkeys can be registered."


def registration_options(
    db: Session, rp: RelyingParty, user: User, binding: str, now: datetime
) -> dict[str, Any]:
    """`PublicKeyCredentialCreationOptions` (§5.4) as JSON, with a new challenge bound to
    the user and the session (`binding`); the user's passkeys are excluded, so that one
    authenticator is not registered twice."""
    user_id = _id_of(user)
    existing = PasskeyRepository(db).of_user(user_id)
    if len(existing) >= MAX_PASSKEYS:
        raise InvalidRequestError(_TOO_MANY)
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.username,
        user_id=user_handle(user_id),
        challenge=issue_challenge(db, REGISTRATION, binding, user_id, now),
        timeout=TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[descriptor(passkey) for passkey in existing],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json_dict(options)


def register_passkey(
    db: Session,
    rp: RelyingParty,
    user: User,
    binding: str,
    credential: object,
    name: str,
    now: datetime,
) -> Passkey:
    """Verify the response of `navigator.credentials.create()` (§7.1) to a challenge of
    this user's session (`binding`), and store the passkey under `name` (blank: a
    numbered default)."""
    user_id = _id_of(user)
    name = _passkey_name(name)
    parsed = registration_credential(credential)
    issued = consumed_challenge(db, parsed.response.client_data_json, REGISTRATION, binding, now)
    if issued.user_id != user_id:
        raise AccessDeniedError(NOT_VERIFIED)
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=client_data_challenge(parsed.response.client_data_json),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            supported_pub_key_algs=ALGORITHMS,
        )
    except UNREADABLE:
        raise AccessDeniedError(NOT_VERIFIED) from None
    credential_id = bytes_to_base64url(verified.credential_id)
    public_key = bytes_to_base64url(verified.credential_public_key)
    if len(verified.credential_id) > _MAX_CREDENTIAL_ID_BYTES:
        raise InvalidRequestError("The passkey credential id is too long.")
    if len(public_key) > _MAX_PUBLIC_KEY_CHARACTERS:
        raise InvalidRequestError("The passkey public key is too large.")
    repository = PasskeyRepository(db)
    # §7.1: a credential id registered already (to anyone) fails the ceremony.
    if repository.find(credential_id) is not None:
        raise AccessDeniedError("This passkey is registered already.")
    registered = len(repository.of_user(user_id))
    if registered >= MAX_PASSKEYS:
        raise InvalidRequestError(_TOO_MANY)
    passkey = Passkey(
        credential_id=credential_id,
        user_id=user_id,
        name=name or f"Passkey {registered + 1}",
        public_key=public_key,
        sign_count=verified.sign_count,
        transports=_transports(parsed),
        backed_up=verified.credential_backed_up,
        created_at=now,
    )
    repository.add(passkey)
    record_event(
        db, "passkey.registered", user_id=user_id, username=user.username, name=passkey.name
    )
    return passkey


def remove_passkey(db: Session, user: User, credential_id: str) -> Passkey | None:
    """The user's passkey, removed and audited; None if the user has none of that id."""
    removed = PasskeyRepository(db).remove(_id_of(user), credential_id)
    if removed is not None:
        record_event(
            db, "passkey.removed", user_id=user.id, username=user.username, name=removed.name
        )
    return removed


def _passkey_name(name: str) -> str:
    name = " ".join(name.split())
    if len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise InvalidRequestError(f"A passkey name has at most {MAX_NAME_LENGTH} characters.")
    return name


def _transports(parsed: RegistrationCredential) -> str:
    """The transports the browser reported (`getTransports()`) that py_webauthn knows."""
    transports = parsed.response.transports or []
    return " ".join(transport.value for transport in transports)[:200]


def _id_of(user: User) -> int:
    if user.id is None:
        raise ValueError("the user is not stored")
    return user.id

"""Signing in with a passkey (WebAuthn L3 §7.2), alone or as the second factor.

Alone, the sign-in is username-less: no credential is named, the authenticator finds a
discoverable one and must verify the user (§6.2.3), so that it proves two factors
(`hwk mfa`, factors/policy.py). As the second factor the user is known: the challenge is
theirs, and so must the credential be. py_webauthn verifies the response; ours are the
challenge's binding, the owner of the credential and the signature counter.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session
from webauthn import generate_authentication_options, verify_authentication_response
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, options_to_json_dict
from webauthn.helpers.structs import AuthenticationCredential, UserVerificationRequirement

from authserver.audit import record_event
from authserver.errors import AccessDeniedError
from authserver.passkeys.challenges import SECOND_FACTOR, SIGN_IN, issue_challenge
from authserver.passkeys.models import Passkey
from authserver.passkeys.relying_party import RelyingParty
from authserver.passkeys.repository import PasskeyRepository
from authserver.passkeys.responses import (
    NOT_VERIFIED,
    TIMEOUT_MS,
    UNREADABLE,
    authentication_credential,
    client_data_challenge,
    consumed_challenge,
    descriptor,
    user_handle,
)
from authserver.users.models import User


@dataclass(frozen=True)
class ProvedPasskey:
    passkey: Passkey
    user: User
    backed_up: bool

    @property
    def method(self) -> str:
        """RFC 8176 `amr`: a synced passkey (backed up, §6.1.3) is `swk`; one that never
        leaves its authenticator is `hwk`."""
        return "swk" if self.backed_up else "hwk"


def authentication_options(
    db: Session,
    rp: RelyingParty,
    purpose: str,
    binding: str,
    now: datetime,
    user_id: int | None = None,
) -> dict[str, Any]:
    """`PublicKeyCredentialRequestOptions` (§5.5) as JSON, with a new challenge bound to
    the browser. For SIGN_IN no credential is named and user verification is required;
    for SECOND_FACTOR the challenge is `user_id`'s, and so are the credentials allowed."""
    allowed = PasskeyRepository(db).of_user(user_id) if user_id is not None else []
    verification = (
        UserVerificationRequirement.REQUIRED
        if purpose == SIGN_IN
        else UserVerificationRequirement.PREFERRED
    )
    options = generate_authentication_options(
        rp_id=rp.id,
        challenge=issue_challenge(db, purpose, binding, user_id, now),
        timeout=TIMEOUT_MS,
        allow_credentials=[descriptor(passkey) for passkey in allowed],
        user_verification=verification,
    )
    return options_to_json_dict(options)


def verify_assertion(
    db: Session,
    rp: RelyingParty,
    purpose: str,
    binding: str,
    credential: object,
    now: datetime,
) -> ProvedPasskey:
    """Verify the response of `navigator.credentials.get()` (§7.2) to a challenge this
    browser (`binding`) was given for `purpose`; the passkey's counter, backup state
    and last use are stored.

    A refusal raises after consuming the challenge and recording what is audited (a
    failed signature, a counter that did not grow): the caller commits, then answers."""
    parsed = authentication_credential(credential)
    issued = consumed_challenge(db, parsed.response.client_data_json, purpose, binding, now)
    repository = PasskeyRepository(db)
    passkey = repository.find(bytes_to_base64url(parsed.raw_id))
    # §7.2: when the user was identified first, the credential must be theirs.
    if passkey is None or (purpose == SECOND_FACTOR and passkey.user_id != issued.user_id):
        raise AccessDeniedError("This passkey is not registered here.")
    user = db.get(User, passkey.user_id)
    if user is None or user.disabled or not _user_handle_matches(parsed, passkey, purpose):
        raise AccessDeniedError(NOT_VERIFIED)
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=client_data_challenge(parsed.response.client_data_json),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            # Zero: py_webauthn would compare the counters before the signature; they are
            # compared below, once the signature proved the assertion genuine.
            credential_current_sign_count=0,
            require_user_verification=purpose == SIGN_IN,
        )
    except UNREADABLE:
        _record_failure(db, purpose, user, passkey, "passkey not verified")
        raise AccessDeniedError(NOT_VERIFIED) from None
    # §7.2 and §6.1.1: a counter that did not grow (when either is non-zero) signals a
    # cloned authenticator. Refused; so is a concurrent use of the same counter.
    new, stored = verified.new_sign_count, passkey.sign_count
    grew = new > stored or new == stored == 0
    backed_up = verified.credential_backed_up
    if not grew or not repository.record_use(passkey, new, backed_up, now):
        reason = "passkey sign count did not increase"
        _record_failure(db, purpose, user, passkey, reason, sign_count=new, stored=stored)
        raise AccessDeniedError(NOT_VERIFIED)
    return ProvedPasskey(passkey, user, backed_up)


def _user_handle_matches(parsed: AuthenticationCredential, passkey: Passkey, purpose: str) -> bool:
    """§7.2: a user handle, if given, is the credential owner's; a username-less sign-in
    must give one, since that is how it identifies the user."""
    handle = parsed.response.user_handle
    if handle is None:
        return purpose != SIGN_IN
    return handle == user_handle(passkey.user_id)


def _record_failure(
    db: Session, purpose: str, user: User, passkey: Passkey, reason: str, **details: object
) -> None:
    event = "login.failed" if purpose == SIGN_IN else "login.second_factor_failed"
    record_event(
        db,
        event,
        user_id=user.id,
        username=user.username,
        reason=reason,
        passkey=passkey.name,
        **details,
    )

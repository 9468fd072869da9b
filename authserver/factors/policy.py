"""When a second factor is asked for, and what the id_token says about the sign-in.

- `AUTHSERVER_MFA=off`: never; TOTP and passkeys cannot be enrolled as second factors.
- `optional` (the default): a user who enrolled a factor is always asked for it at
  sign-in; a client with `--require-mfa`, or a request whose `acr_values` ask only for
  ACR_MFA, needs a session with a second factor, and leads a user without one through
  enrolment first.
- `required`: every authorization needs it.

`amr` (RFC 8176) lists the methods proved, in order: `pwd`, then `otp` (a TOTP or a
recovery code) or `hwk`/`swk` (a passkey), and `mfa` once two were proved; a passkey
alone gives `hwk mfa` or `swk mfa` (possession, and the user verification the
authenticator did); an upstream provider gives `fed`. `acr` is one of ACR_VALUES.
"""

from collections.abc import Iterable

ACR_SINGLE_FACTOR = "urn:authserver:acr:sfa"
ACR_MFA = "urn:authserver:acr:mfa"
ACR_VALUES = (ACR_SINGLE_FACTOR, ACR_MFA)
MFA = "mfa"


def is_multi_factor(amr: str) -> bool:
    return MFA in amr.split()


def acr_of(amr: str) -> str:
    return ACR_MFA if is_multi_factor(amr) else ACR_SINGLE_FACTOR


def with_second_factor(amr: str, method: str) -> str:
    """`pwd` + `otp` → `pwd otp mfa`."""
    methods = [m for m in amr.split() if m != MFA]
    return " ".join(dict.fromkeys([*methods, method, MFA]))


def asks_only_for_mfa(acr_values: Iterable[str]) -> bool:
    """OIDC Core §3.1.2.1 `acr_values`, in order of preference: a request that would
    accept a single factor is answered with one; one that names only ACR_MFA is not."""
    values = list(acr_values)
    return ACR_MFA in values and ACR_SINGLE_FACTOR not in values


def mfa_needed(mode: str, client_requires_mfa: bool, acr_values: Iterable[str]) -> bool:
    if mode == "off":
        return False
    return mode == "required" or client_requires_mfa or asks_only_for_mfa(acr_values)

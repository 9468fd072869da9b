"""Second factors: TOTP (RFC 6238) with recovery codes, and the MFA policy (amr, acr)."""

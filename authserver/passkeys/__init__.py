"""Passkeys (WebAuthn Level 2/3): registration on the account page, sign-in with one alone
or as the second factor."""

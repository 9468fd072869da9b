"""Signing keys: the file store, their lifecycle, and the JWKS (RFC 7517)."""

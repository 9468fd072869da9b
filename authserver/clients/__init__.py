"""Registered OAuth clients (RFC 6749 §2)."""

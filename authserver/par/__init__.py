"""Pushed Authorization Requests (RFC 9126)."""

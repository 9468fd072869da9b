"""Signing in: sessions, the login throttle, CSRF tokens and consent."""

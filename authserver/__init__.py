"""authserver: an OAuth 2.0 / OpenID Connect authorization server (RFC 6749, RFC 9068)."""

__version__ = "0.1.0"

"""OpenID Connect Back-Channel Logout 1.0 from a durable outbox (docs/revocation.md)."""

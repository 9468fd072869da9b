"""Sign-in with an upstream OpenID provider (authorization code + PKCE, Authlib's client)."""

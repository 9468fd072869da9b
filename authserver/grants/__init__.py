"""OAuth grants (RFC 6749 §4), each an Authlib grant with our storage and checks."""

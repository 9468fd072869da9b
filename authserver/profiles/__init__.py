"""Security profiles a client (or the whole server) can be held to: FAPI 2.0 (`fapi2`)."""

"""Token Status List (draft-ietf-oauth-status-list-18): revocation that reaches offline
verifiers. Every access token names a bit in a list this server publishes, signed, at
`/statuslists/{id}`; revoking the token (or its family, session, user or client) sets it.

`bits` and `permutation` need only the standard library (the resource verifier uses
`bits`); the rest is the server's: tables, allocation, revocation and publishing.
"""

"""DPoP, Demonstrating Proof of Possession (RFC 9449): proofs, server nonces and the
binding of tokens to a client's key, for this server and for resource services alike.

Only the standard library, `cryptography` and `authserver.jose`: a resource service
imports it without the server's stack (`authserver.resource.Verifier` does).
`authserver.dpop.server`, never imported from here, is this server's use of it: its
settings, its shared replay store and its OAuth errors.

    proof = check_proof(header_value, method="GET", url="https://api.example.test/orders",
                        now=int(time.time()), max_age=60, leeway=60, access_token=token)
    if proof.jkt != bound_key(claims): ...   # RFC 9449 §4.3 step 12, §6.1
"""

from authserver.dpop.binding import DPOP_TOKEN_TYPE, access_token_hash, bound_key, confirmation
from authserver.dpop.nonce import NonceSource
from authserver.dpop.proof import (
    DPOP_ALGORITHMS,
    MAX_JTI_LENGTH,
    MAX_PROOF_BYTES,
    DPoPProof,
    NonceNeeded,
    ProofRejected,
    check_proof,
    single_proof,
)
from authserver.dpop.replay import ProofReplayStore, SeenProofs
from authserver.dpop.uri import normalized_uri

__all__ = [
    "DPOP_ALGORITHMS",
    "DPOP_TOKEN_TYPE",
    "MAX_JTI_LENGTH",
    "MAX_PROOF_BYTES",
    "DPoPProof",
    "NonceNeeded",
    "NonceSource",
    "ProofRejected",
    "ProofReplayStore",
    "SeenProofs",
    "access_token_hash",
    "bound_key",
    "check_proof",
    "confirmation",
    "normalized_uri",
    "single_proof",
]

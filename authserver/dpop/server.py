"""DPoP at this server's own endpoints (RFC 9449 §5, §7, §8, §10): a proof checked with
AUTHSERVER_DPOP_PROOF_MAX_AGE and AUTHSERVER_JWT_LEEWAY, its `jti` recorded once in the
store every replica shares (`authserver.replay`: Redis or the database), the server's
nonce demanded when AUTHSERVER_DPOP_NONCE_REQUIRED, failures raised as OAuth errors.

Not imported by `authserver.dpop` itself, which resource services import without the
server's stack. The token endpoint and /userinfo use it (`AuthorizationServer.dpop`);
an endpoint that accepts a proof answers with `nonce_headers()` on every response.
"""

from typing import Protocol

from sqlmodel import Session

from authserver.clock import utcnow
from authserver.dpop.nonce import NonceSource
from authserver.dpop.proof import (
    DPOP_ALGORITHMS,
    DPoPProof,
    NonceNeeded,
    ProofRejected,
    check_proof,
    single_proof,
)
from authserver.errors import InvalidDPoPProofError, InvalidGrantError, UseDPoPNonceError
from authserver.replay import ReplayGuard
from authserver.settings import Settings

DPOP_HEADER = "dpop"
NONCE_HEADER = "DPoP-Nonce"


class Headers(Protocol):
    """Starlette's request headers: every value of a field, case-insensitively."""

    def getlist(self, key: str) -> list[str]: ...


class ServerProofs:
    def __init__(self, settings: Settings, replay: ReplayGuard) -> None:
        self._replay = replay
        self.max_age = int(settings.dpop_proof_max_age.total_seconds())
        self.leeway = int(settings.jwt_leeway.total_seconds())
        self.algorithms = DPOP_ALGORITHMS
        self._nonces: NonceSource | None = None
        if settings.dpop_nonce_required:
            self._nonces = _nonce_source(settings, self.max_age)

    @property
    def nonces_required(self) -> bool:
        return self._nonces is not None

    def check(
        self,
        headers: Headers,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        db: Session | None = None,
        status_code: int = 400,
    ) -> DPoPProof | None:
        """The request's proof for `method` on `url`, None when it sent none; raises
        `invalid_dpop_proof` or `use_dpop_nonce` with `status_code` (400 at the token
        endpoint, §5 and §8; 401 at a protected resource, §7.1 and §9). `db`: the
        request's transaction, where the `jti` is recorded (else one of its own)."""
        now = int(utcnow().timestamp())
        nonces = self._nonces
        try:
            value = single_proof(headers.getlist(DPOP_HEADER))
            if value is None:
                return None
            proof = check_proof(
                value,
                method=method,
                url=url,
                now=now,
                max_age=self.max_age,
                leeway=self.leeway,
                access_token=access_token,
                nonce_valid=None if nonces is None else lambda nonce: nonces.valid(nonce, now),
            )
        except NonceNeeded as error:
            raise UseDPoPNonceError(str(error), status_code=status_code) from None
        except ProofRejected as error:
            raise InvalidDPoPProofError(str(error), status_code=status_code) from None
        # §11.1: each proof once, within the window it is accepted in.
        expires_at = proof.iat + self.max_age + self.leeway
        if not self._replay.first_use("dpop", proof.jkt, proof.jti, expires_at, db=db):
            raise InvalidDPoPProofError(
                "The DPoP proof was already used (jti).", status_code=status_code
            )
        return proof

    def nonce_headers(self) -> dict[str, str]:
        """§8.2: a fresh nonce on every response to a DPoP request, when nonces are required."""
        if self._nonces is None:
            return {}
        return {NONCE_HEADER: self._nonces.issue(int(utcnow().timestamp()))}

    def challenge(self, error: str | None = None, description: str | None = None) -> str:
        """§7.1: a `WWW-Authenticate: DPoP` value with the error and the `algs` accepted."""
        parameters = [("error", error), ("error_description", description)]
        parameters.append(("algs", " ".join(sorted(self.algorithms))))
        rendered = (f'{name}="{_quote_safe(value)}"' for name, value in parameters if value)
        return "DPoP " + ", ".join(rendered)


def require_proof(required: bool, proof: DPoPProof | None) -> None:
    """RFC 9449 §5.2: a client registered as always using DPoP (`clients create
    --require-dpop`) is refused a token request without a proof."""
    if required and proof is None:
        raise InvalidDPoPProofError("This client must send a DPoP proof.")


def require_bound_key(bound_jkt: str | None, proof: DPoPProof | None, grant: str) -> None:
    """A grant bound to a key is redeemed only with a proof of that key: a code bound by
    `dpop_jkt` (§10), a public client's refresh token (§5)."""
    if bound_jkt is None:
        return
    if proof is None:
        raise InvalidGrantError(f"The {grant} is bound to a DPoP key; send a DPoP proof.")
    if proof.jkt != bound_jkt:
        raise InvalidGrantError(f"The DPoP proof is not signed by the key the {grant} is bound to.")


def _nonce_source(settings: Settings, window: int) -> NonceSource:
    passphrase = settings.keys_passphrase
    if passphrase is None:
        return NonceSource.random(window)
    return NonceSource.from_passphrase(passphrase.get_secret_value(), settings.issuer, window)


def _quote_safe(text: str) -> str:
    """RFC 6750 §3: a quoted-string without `"` or `\\`."""
    return text.replace('"', "'").replace("\\", "/")

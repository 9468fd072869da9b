"""Access tokens signed per CPU second with each AUTHSERVER_SIGNING_ALG, in one process.

    .venv/bin/python bench/signing_algorithms.py [--rounds 7] [--seconds 1.0]

For each of RS256, PS256 (RSA of --rsa-bits, 2048 by default), ES256 (P-256) and EdDSA
(Ed25519): a key store of that algorithm in a temporary directory, its key ring, and an
`AccessTokenIssuer` (tokens/access.py) issuing client_credentials-shaped tokens, the
server's whole signing path (claims, orjson, header cache, signature, base64url). Each
round measures every algorithm for --seconds of the thread's CPU time
(`time.thread_time`, which other work on a shared machine skews far less than wall
time), in an order that alternates from round to round (forwards, then backwards), after
a short warm-up. One token of each is verified by `authserver.jose` before measuring, so
a broken signer cannot count. Printed: the median tokens per CPU second, the lowest and
highest round, and the median against RS256's.
"""

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from authserver.clock import utcnow
from authserver.jose import JwtRules, JwtValidator
from authserver.keys.keyring import KeyRing
from authserver.keys.rotation import ensure_signing_keys
from authserver.keys.store import FileKeyStore
from authserver.tokens.access import AccessTokenIssuer

ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")
ISSUER = "https://auth.example.test"
AUDIENCE = "https://orders.example.test"
WARMUP_SECONDS = 0.2


def issuer_for(alg: str, directory: Path, rsa_bits: int) -> tuple[AccessTokenIssuer, KeyRing]:
    store = FileKeyStore(directory / alg, None)
    ensure_signing_keys(store, rsa_bits, utcnow(), algorithms=(alg,))
    keyring = KeyRing(store, timedelta(hours=1), alg)  # no store check while measuring
    return AccessTokenIssuer(ISSUER, keyring, timedelta(minutes=15)), keyring


def issue(issuer: AccessTokenIssuer) -> str:
    return issuer.issue(
        client_id="bench-client", subject="bench-client", audience=AUDIENCE, scope="orders:read"
    ).token


def check(issuer: AccessTokenIssuer, keyring: KeyRing, alg: str) -> None:
    rules = JwtRules(typ="at+jwt", issuer=ISSUER, audience=AUDIENCE, algorithms=frozenset({alg}))
    claims = JwtValidator(rules).validate(issue(issuer), keyring.verification_key, int(time.time()))
    assert claims["client_id"] == "bench-client"


def tokens_per_cpu_second(issuer: AccessTokenIssuer, seconds: float) -> float:
    """Tokens issued per second of this thread's CPU time, over about `seconds` of it."""
    deadline = time.thread_time() + WARMUP_SECONDS
    while time.thread_time() < deadline:
        issue(issuer)
    count, start = 0, time.thread_time()
    while (used := time.thread_time() - start) < seconds:
        for _ in range(16):
            issue(issuer)
        count += 16
    return count / used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rsa-bits", type=int, default=2048, choices=(2048, 3072))
    options = parser.parse_args()
    rates: dict[str, list[float]] = {alg: [] for alg in ALGORITHMS}
    with tempfile.TemporaryDirectory() as temporary:
        issuers = {alg: issuer_for(alg, Path(temporary), options.rsa_bits) for alg in ALGORITHMS}
        for alg, (issuer, keyring) in issuers.items():
            check(issuer, keyring, alg)
        for round_number in range(options.rounds):
            order = ALGORITHMS if round_number % 2 == 0 else ALGORITHMS[::-1]
            for alg in order:
                rates[alg].append(tokens_per_cpu_second(issuers[alg][0], options.seconds))
    baseline = statistics.median(rates["RS256"])
    print(f"access tokens signed per CPU second, {options.rounds} rounds of {options.seconds} s")
    print(f"RSA keys of {options.rsa_bits} bits; median (min-max); x RS256")
    print(f"{'alg':<6} {'median':>9} {'min':>9} {'max':>9} {'x RS256':>8}")
    for alg in ALGORITHMS:
        median = statistics.median(rates[alg])
        print(
            f"{alg:<6} {median:>9,.0f} {min(rates[alg]):>9,.0f} {max(rates[alg]):>9,.0f} "
            f"{median / baseline:>8.2f}"
        )


if __name__ == "__main__":
    main()

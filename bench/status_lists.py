"""What the Token Status List costs (draft-ietf-oauth-status-list-18; docs/revocation.md).

    python bench/status_lists.py [--rounds 7] [--tokens 2000]

In one process, on a SQLite database and an RSA-2048 key made for the run:

1. Issuing access tokens with a status entry beside issuing them without one: rounds
   alternate the two, each signing `--tokens` tokens with the server's own signer; the
   figure is tokens per CPU second of the thread (`time.thread_time`), median and spread
   of the rounds, and the ratio of the medians. With the entry, each token also takes
   its index from the process's block (`StatusAllocator.take`; a block reservation, a
   transaction of its own, every few thousand tokens) and carries the `status` claim.
2. A list of 1,048,576 entries (AUTHSERVER_STATUS_LIST_SIZE's default) with 1 % of them
   revoked at random: the size of its `lst` and of its Status List Token, the server's
   cost to build it (read indexes, set bits, compress, sign), and the verifier's cost to
   take it in (verify the signature, inflate) and then to check one token (a bit test).
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from joserfc.jwk import RSAKey

from authserver.db import Database
from authserver.jose import JwtRules, JwtValidator
from authserver.jose.claims import STATUS_LIST_TOKEN_TYPE
from authserver.jose.keys import VerificationKey
from authserver.schema import upgrade_database
from authserver.services import build_services
from authserver.settings import Settings
from authserver.statuslists import bits
from authserver.statuslists.allocation import list_uri
from authserver.statuslists.publishing import StatusListSigner

ISSUER = "http://127.0.0.1:8000"
LIST_SIZE = 1 << 20
REVOKED_SHARE = 0.01


def cpu_rate(action: Callable[[], object], count: int) -> float:
    started = time.thread_time()
    for _ in range(count):
        action()
    return count / (time.thread_time() - started)


def cpu_seconds(action: Callable[[], object], repeat: int = 5) -> float:
    """The median CPU time of one call, over `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.thread_time()
        action()
        times.append(time.thread_time() - started)
    return statistics.median(times)


def spread(values: list[float]) -> str:
    median, low, high = statistics.median(values), min(values), max(values)
    return f"median {median:,.0f}/s (min {low:,.0f}, max {high:,.0f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=2000)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            mode="development",
            issuer=ISSUER,
            database_url=f"sqlite:///{Path(directory) / 'bench.db'}",
            keys_dir=Path(directory) / "keys",
        )
        database = Database(settings.database_url)
        upgrade_database(database)
        services = build_services(settings, database)
        issuer = services.oauth._access_tokens
        statuses = services.oauth.statuses
        common = {"client_id": "bench", "subject": "bench", "audience": ISSUER, "scope": "read"}

        def without() -> object:
            return issuer.issue(**common)

        def with_status() -> object:
            return issuer.issue(**common, status=statuses.take("bench"))

        for action in (without, with_status):  # warm-up, and the first block
            cpu_rate(action, 200)
        plain, entry = [], []
        for _ in range(arguments.rounds):
            plain.append(cpu_rate(without, arguments.tokens))
            entry.append(cpu_rate(with_status, arguments.tokens))
        ratio = statistics.median(entry) / statistics.median(plain)
        print(f"tokens without a status entry: {spread(plain)} per CPU second")
        print(f"tokens with a status entry:    {spread(entry)} per CPU second")
        print(f"status allocation ratio: {ratio:.3f} (target >= 0.95)")

        chance = random.Random(7)  # noqa: S311 - which entries are revoked, no secret
        revoked = chance.sample(range(LIST_SIZE), int(LIST_SIZE * REVOKED_SHARE))
        signer = StatusListSigner(ISSUER, services.keyring, settings.access_token_ttl)
        lst = bits.encode(LIST_SIZE, revoked)
        token = signer.sign("bench", lst, 60, int(time.time()))
        build = cpu_seconds(lambda: signer.sign("bench", bits.encode(LIST_SIZE, revoked), 60, 0))
        public = services.keyring.signing_key.as_dict(private=False)  # type: ignore[union-attr]
        key = VerificationKey.of(RSAKey.import_key(public))
        validator = JwtValidator(
            JwtRules(
                typ=STATUS_LIST_TOKEN_TYPE,
                issuer=ISSUER,
                required=frozenset({"sub", "iat", "status_list"}),
                max_bytes=4 * 1024 * 1024,
            )
        )

        def take_in() -> bytes:
            claims = validator.validate(token, lambda _: key, int(time.time()))
            return bits.decode(claims["status_list"]["lst"])

        take_in_s = cpu_seconds(take_in)
        array = take_in()
        assert all(bits.status_at(array, i) == bits.INVALID for i in revoked[:1000])
        probes = [chance.randrange(LIST_SIZE) for _ in range(100_000)]
        started = time.thread_time()
        for index in probes:
            bits.status_at(array, index)
        check_us = (time.thread_time() - started) / len(probes) * 1e6
        print(
            f"list of {LIST_SIZE:,} entries, {len(revoked):,} revoked ({REVOKED_SHARE:.0%}), "
            f"uri {list_uri(ISSUER, 'ID')}:"
        )
        print(f"  lst: {len(lst):,} bytes; Status List Token: {len(token):,} bytes")
        print(f"  server build (set bits, compress, sign): {build * 1000:.1f} ms CPU")
        print(f"  verifier take-in (verify signature, inflate): {take_in_s * 1000:.1f} ms CPU")
        print(f"  verifier check per token (bit test): {check_us:.2f} µs")
        database.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

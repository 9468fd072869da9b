"""Verifications per second per core of `authserver.resource.Verifier`, beside openssl's.

    python bench/verifier.py [--seconds 8] [--openssl-seconds 5] [--profile FILE]
    python bench/verifier.py --issuer URL --authorization 'Basic ...' [--scope S] [...]

One process, one thread, a warm key cache: `Verifier.verify` is called in a loop on a
fixed set of 64 valid RS256 access tokens (RSA-2048), cycling through them, for
`--seconds` (after 64 calls that fill the cache and a 0.5 s warm-up). Every call must
return the claims: any exception ends the run, so errors are never counted as
throughput. The verifier is made as a resource service makes it, from an issuer and an
audience only: it finds the JWKS through discovery (`/.well-known/openid-configuration`),
fetches it once, then verifies from its cache.

Where the tokens come from:
- with `--issuer`: a running authserver (bench/run.sh starts one on SQLite). 64 tokens
  from its token endpoint (found by discovery too): `client_credentials` with the
  `--authorization` header of a client, `--scope`; the verifier's audience is
  `--audience`, by default the issuer (the server's default audience);
- without: a small issuer started here on loopback, serving discovery and a JWKS
  (`Cache-Control: public, max-age=3600`) for an RSA-2048 key made for the run, and
  tokens signed with it shaped as the server's (header alg/typ/kid; claims iss, sub,
  aud, exp, iat, jti, client_id, scope).

Per core: verifications per CPU second of the measuring thread (`time.thread_time`,
user + system), which other work on a shared machine skews far less than wall time; the
wall-clock rate is printed too. Then `openssl speed -seconds N rsa2048` runs in ONE
process (no `-multi`), nothing of ours running meanwhile: its verify/s is per CPU
second as well (without `-elapsed`, openssl divides by its user CPU time), so the two
figures compare per core. For scale, the loop of the bare `cryptography` call that a
verification cannot avoid (`public_key.verify(signature, signing_input, PKCS1v15(),
SHA256())` on the same tokens, inputs prepared beforehand) is measured too, for 2 s.

The last lines (`name: value`) are the summary bench/run.sh reads. `--profile FILE`
writes a cProfile of a separate 3 s loop, after the measured one (never the figure).
"""

import argparse
import base64
import cProfile
import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cryptography
import httpx
from cryptography.hazmat.backends.openssl import backend
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.hashes import SHA256

from authserver.resource import Verifier

TARGET_PERCENT = 50.0
TOKENS = 64
BLOCK = 1024  # calls between two looks at the clock
BARE_SECONDS = 2.0
METADATA_PATH = "/.well-known/openid-configuration"

Measurement = tuple[int, float, float]  # calls, thread CPU seconds, wall seconds


def main() -> None:
    options = parse_arguments()
    with issuer(options) as (issuer_url, audience, tokens):
        with Verifier(issuer_url, audience) as verifier:
            calls, cpu, wall = measure(verifier, tokens, options.seconds)
            if options.profile:
                profile(verifier, tokens, options.profile)
        bare = bare_verifications(issuer_url, tokens)
    openssl, openssl_version = openssl_verify_rate(options.openssl_seconds)

    per_core = calls / cpu
    ratio = 100 * per_core / openssl
    verdict = "meets target" if ratio >= TARGET_PERCENT else "BELOW target"
    library = f"cryptography {cryptography.__version__}, {backend.openssl_version_text()}"
    print(f"issuer: {issuer_url}   audience: {audience}   {len(tokens)} distinct RS256 tokens")
    print(
        f"Verifier.verify, 1 thread, warm cache: {calls} verifications in {wall:.2f} s "
        f"({cpu:.2f} s CPU, {100 * cpu / wall:.0f} % of a core); {library}"
    )
    print(f"bare public_key.verify loop, same tokens: {bare:.0f}/s per CPU second")
    print(f"openssl speed -seconds {options.openssl_seconds} rsa2048: 1 process, {openssl_version}")
    print(f"load average after: {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print()
    print(f"verifier verifications/s per core: {per_core:.0f}")
    print(f"verifier verifications/s wall: {calls / wall:.0f}")
    print(f"openssl RSA-2048 verify/s per core: {openssl:.0f}")
    print(f"verifier ratio: {ratio:.1f} %  (target >= {TARGET_PERCENT:.0f} %, {verdict})")
    print(f"bare cryptography verify/s per core: {bare:.0f}")
    print(f"verifier share of bare cryptography: {100 * per_core / bare:.1f} %")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="measured loop (default 8)")
    parser.add_argument(
        "--openssl-seconds", type=int, default=5, help="openssl speed -seconds (default 5)"
    )
    parser.add_argument("--issuer", help="a running authserver; else an issuer is started here")
    parser.add_argument("--authorization", help="with --issuer: a client's Authorization header")
    parser.add_argument("--scope", default="bench:read", help="with --issuer (default bench:read)")
    parser.add_argument("--audience", help="with --issuer: the tokens' audience (the issuer)")
    parser.add_argument("--profile", type=Path, help="write a cProfile of an extra loop here")
    options = parser.parse_args()
    if options.issuer and not options.authorization:
        parser.error("--issuer needs --authorization")
    if options.seconds <= 0 or options.openssl_seconds <= 0:
        parser.error("--seconds and --openssl-seconds must be positive")
    return options


@contextmanager
def issuer(options: argparse.Namespace) -> Iterator[tuple[str, str, list[str]]]:
    """(issuer, audience, tokens), the issuer answering until the block ends."""
    if options.issuer:
        tokens = client_credentials_tokens(options.issuer, options.authorization, options.scope)
        yield options.issuer, options.audience or options.issuer, tokens
        return
    with local_issuer() as served:
        yield served


def client_credentials_tokens(issuer_url: str, authorization: str, scope: str) -> list[str]:
    with httpx.Client(timeout=10) as http:
        metadata = http.get(issuer_url.rstrip("/") + METADATA_PATH)
        metadata.raise_for_status()
        token_endpoint = metadata.json()["token_endpoint"]
        tokens = []
        for _ in range(TOKENS):
            response = http.post(
                token_endpoint,
                data={"grant_type": "client_credentials", "scope": scope},
                headers={"Authorization": authorization},
            )
            if response.status_code != 200:
                raise SystemExit(f"POST {token_endpoint} answered {response.status_code}")
            tokens.append(response.json()["access_token"])
    return tokens


@contextmanager
def local_issuer() -> Iterator[tuple[str, str, list[str]]]:
    """Discovery and a JWKS on loopback, and TOKENS access tokens signed for them."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = secrets.token_urlsafe(8)
    numbers = key.public_key().public_numbers()
    jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid}
    jwk |= {"n": b64url(unsigned(numbers.n)), "e": b64url(unsigned(numbers.e))}
    documents: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "public, max-age=3600")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    audience = "https://orders.bench.test"
    documents[METADATA_PATH] = json.dumps({"issuer": base, "jwks_uri": f"{base}/jwks"}).encode()
    documents["/jwks"] = json.dumps({"keys": [jwk]}).encode()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        now = int(time.time())
        header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}
        tokens = []
        for _ in range(TOKENS):
            claims = {
                "iss": base,
                "sub": "bench-client",
                "aud": audience,
                "exp": now + 3600,
                "iat": now,
                "jti": secrets.token_urlsafe(16),
                "client_id": "bench-client",
                "scope": "orders:read",
            }
            data = f"{segment(header)}.{segment(claims)}"
            signature = key.sign(data.encode(), PKCS1v15(), SHA256())
            tokens.append(f"{data}.{b64url(signature)}")
        yield base, audience, tokens
    finally:
        server.shutdown()
        server.server_close()


def measure(verifier: Verifier, tokens: list[str], seconds: float) -> Measurement:
    """`verifier.verify` in a loop: the cache filled first, then a warm-up, then measured."""
    for token in tokens:
        if not verifier.verify(token).client_id:
            raise SystemExit("a verified token has no client_id")
    block = [tokens[i % len(tokens)] for i in range(BLOCK)]
    timed(verifier.verify, block, 0.5)
    return timed(verifier.verify, block, seconds)


def timed(call: Callable[[str], object], block: list[str], seconds: float) -> Measurement:
    calls = 0
    wall_start, cpu_start = time.perf_counter(), time.thread_time()
    deadline = wall_start + seconds
    while True:
        for token in block:
            call(token)
        calls += len(block)
        wall = time.perf_counter()
        if wall >= deadline:
            return calls, time.thread_time() - cpu_start, wall - wall_start


def bare_verifications(issuer_url: str, tokens: list[str]) -> float:
    """Per CPU second: only the cryptography call, its inputs prepared beforehand."""
    public_key = public_key_of(issuer_url, tokens[0])
    padding, hash_algorithm = PKCS1v15(), SHA256()
    inputs = []
    for token in tokens:
        signing_input, _, encoded_signature = token.rpartition(".")
        inputs.append((unb64url(encoded_signature), signing_input.encode()))
    block = [inputs[i % len(inputs)] for i in range(BLOCK)]
    calls = 0
    wall_start, cpu_start = time.perf_counter(), time.thread_time()
    while time.perf_counter() < wall_start + BARE_SECONDS:
        for signature, signing_input in block:
            public_key.verify(signature, signing_input, padding, hash_algorithm)
        calls += len(block)
    return calls / (time.thread_time() - cpu_start)


def public_key_of(issuer_url: str, token: str) -> rsa.RSAPublicKey:
    """The key that signed `token`, from the issuer's JWKS (found by discovery)."""
    kid = json.loads(unb64url(token.split(".", 1)[0]))["kid"]
    with httpx.Client(timeout=10) as http:
        jwks_uri = http.get(issuer_url.rstrip("/") + METADATA_PATH).json()["jwks_uri"]
        keys = http.get(jwks_uri).json()["keys"]
    for jwk in keys:
        if jwk.get("kid") == kid:
            n = int.from_bytes(unb64url(jwk["n"]), "big")
            e = int.from_bytes(unb64url(jwk["e"]), "big")
            return rsa.RSAPublicNumbers(e, n).public_key()
    raise SystemExit(f"no key {kid} in {jwks_uri}")


def profile(verifier: Verifier, tokens: list[str], path: Path) -> None:
    block = [tokens[i % len(tokens)] for i in range(BLOCK)]
    profiler = cProfile.Profile()
    profiler.enable()
    timed(verifier.verify, block, 3.0)
    profiler.disable()
    profiler.dump_stats(path)


def openssl_verify_rate(seconds: int) -> tuple[float, str]:
    """verify/s of `openssl speed -seconds N rsa2048` in one process, and openssl's version."""
    result = subprocess.run(
        ["openssl", "speed", "-seconds", str(seconds), "rsa2048"],
        capture_output=True,
        text=True,
        check=False,
    )
    # The verify/s column, found by its header (OpenSSL 3.4+ adds encrypt/decrypt columns);
    # the "rsa 2048 bits" row has three fields where the header has one.
    column = rate = None
    for line in result.stdout.splitlines():
        fields = line.split()
        if "verify/s" in fields and not line.startswith("rsa"):
            column = fields.index("verify/s")
        elif column is not None and fields[:3] == ["rsa", "2048", "bits"]:
            rate = float(fields[column + 3])
    if result.returncode != 0 or rate is None:
        raise SystemExit(f"openssl speed gave no rsa 2048 verify/s: {result.stderr[-500:]}")
    version = subprocess.run(["openssl", "version"], capture_output=True, text=True, check=False)
    return rate, " ".join(version.stdout.split()[:2])


def unsigned(value: int) -> bytes:
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segment(value: dict[str, object]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


if __name__ == "__main__":
    sys.exit(main())

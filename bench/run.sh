#!/usr/bin/env bash
# Client-credentials tokens per second against `authserver serve --workers 2`,
# next to the RSA-2048 signatures per second of `openssl speed` on this machine
# (bench/README.md). Everything lives in a temporary directory removed at exit.
#
#   BENCH_SECONDS          wrk duration of each measurement (default 10)
#   BENCH_OPENSSL_SECONDS  openssl speed -seconds (default 5; sign then verify, so twice that)
#   VENV                   the virtualenv, relative to the repository root (default .venv)
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_DIR=${VENV:-.venv}
[[ $VENV_DIR == /* ]] || VENV_DIR=$ROOT/$VENV_DIR
PYTHON=$VENV_DIR/bin/python
AUTHSERVER=$VENV_DIR/bin/authserver
LUA_SCRIPT=$ROOT/bench/token.lua

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
OPENSSL_SECONDS=${BENCH_OPENSSL_SECONDS:-5}
WORKERS=2
THREADS=2
CONNECTIONS=16

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}

command -v wrk >/dev/null 2>&1 || die "wrk is missing: apt-get install -y wrk"
command -v openssl >/dev/null 2>&1 || die "openssl is missing: apt-get install -y openssl"
command -v curl >/dev/null 2>&1 || die "curl is missing: apt-get install -y curl"
command -v setsid >/dev/null 2>&1 || die "setsid is missing: apt-get install -y util-linux"
[[ -x $AUTHSERVER && -x $PYTHON ]] || die "no authserver in $VENV_DIR: run 'make bench' (it installs the venv)"
[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer, not '$SECONDS_PER_RUN'"
[[ $OPENSSL_SECONDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_OPENSSL_SECONDS must be a positive integer, not '$OPENSSL_SECONDS'"

CORES=$(nproc)
# Other work on the machine skews both figures, and differently: shown with the result.
LOAD=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null) || LOAD=unknown
TMP=$(mktemp -d "${TMPDIR:-/tmp}/authserver-bench.XXXXXX")
SERVER_PID=""

cleanup() {
  local status=$?
  set +e
  if [[ -n $SERVER_PID ]]; then
    # setsid made the server the leader of its own process group: stop it and its workers.
    kill -TERM -- "-$SERVER_PID" 2>/dev/null
    for _ in $(seq 50); do
      kill -0 -- "-$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL -- "-$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf -- "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() {
  printf -- '--- server log (last 30 lines) ---\n' >&2
  tail -n 30 "$TMP/server.log" >&2 || true
}

cd "$TMP"

PORT=$("$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

export AUTHSERVER_MODE=development
export AUTHSERVER_DATABASE_URL=sqlite:///$TMP/bench.db
export AUTHSERVER_KEYS_DIR=$TMP/keys
export AUTHSERVER_ISSUER=$BASE
# The ratio compares against RSA-2048 signatures: keep the default key size (2048),
# which is checked against the JWKS below.
unset AUTHSERVER_KEYS_RSA_BITS

say "database and client in $TMP"
"$AUTHSERVER" db upgrade >/dev/null
"$AUTHSERVER" clients create --name bench --grant-type client_credentials \
  --scope "bench:read" --json >"$TMP/client.json"

# RFC 6749 §2.3.1: client_id and secret are form-urlencoded, then Basic-encoded.
BENCH_AUTHORIZATION=$("$PYTHON" -c 'import base64, json, sys
from urllib.parse import quote_plus
client = json.load(open(sys.argv[1]))
pair = quote_plus(client["client_id"], safe="") + ":" + quote_plus(client["client_secret"], safe="")
print("Basic " + base64.b64encode(pair.encode()).decode())' "$TMP/client.json")
export BENCH_AUTHORIZATION

say "starting authserver serve --workers $WORKERS on port $PORT"
setsid "$AUTHSERVER" serve --port "$PORT" --workers "$WORKERS" --no-access-log \
  >"$TMP/server.log" 2>&1 </dev/null &
SERVER_PID=$!

ready=""
for _ in $(seq 100); do
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    server_log_tail
    die "the server exited during startup"
  fi
  if curl -fsS --max-time 1 -o /dev/null "$BASE/healthz" 2>/dev/null; then
    ready=yes
    break
  fi
  sleep 0.2
done
if [[ -z $ready ]]; then
  server_log_tail
  die "GET /healthz did not answer within 20 s"
fi

KEY=$(curl -fsS --max-time 5 "$BASE/.well-known/jwks.json" | "$PYTHON" -c 'import base64, json, sys
key = json.load(sys.stdin)["keys"][0]
n = base64.urlsafe_b64decode(key["n"] + "=" * (-len(key["n"]) % 4))
print(key.get("alg", key["kty"]), int.from_bytes(n, "big").bit_length())') ||
  die "GET /.well-known/jwks.json did not return an RSA key"
[[ $KEY == *" 2048" ]] || die "the signing key is $KEY bits, not 2048: the ratio to RSA-2048 would be meaningless"

say "checking one token request"
code=$(curl -sS --max-time 5 -o "$TMP/token.json" -w '%{http_code}' -X POST \
  -H "Authorization: $BENCH_AUTHORIZATION" \
  -H "Content-Type: application/x-www-form-urlencoded" \
  --data "grant_type=client_credentials&scope=bench:read" "$BASE/token") || code=000
if [[ $code != 200 ]] || ! "$PYTHON" -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1])).get("access_token") else 1)' "$TMP/token.json" 2>/dev/null; then
  printf 'POST /token answered %s: %s\n' "$code" "$(head -c 500 "$TMP/token.json" 2>/dev/null)" >&2
  server_log_tail
  die "the token endpoint does not issue tokens; nothing to measure"
fi

# Prints Requests/sec of a wrk output file; fails when wrk reported none.
requests_per_second() {
  local rate
  rate=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
  [[ -n $rate ]] || die "no Requests/sec in the wrk output ($1)"
  printf '%s\n' "$rate"
}

# Fails when the token.lua counter saw any response other than 200.
check_token_run() {
  local non200
  non200=$(awk '/^non-200 responses:/ { print $3 }' "$1")
  [[ -n $non200 ]] || die "token.lua printed no non-200 count; is bench/token.lua intact?"
  if ((non200 > 0)); then
    grep -E '^first non-200 response:' "$1" >&2 || true
    die "$non200 token responses were not 200; the figure would measure errors"
  fi
}

say "warm-up: 2 s of token requests"
wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$LUA_SCRIPT" "$BASE/token" >"$TMP/warmup.txt"
check_token_run "$TMP/warmup.txt"

say "measuring tokens: wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s POST /token"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$LUA_SCRIPT" \
  "$BASE/token" | tee "$TMP/token.txt"
check_token_run "$TMP/token.txt"
TOKENS=$(requests_per_second "$TMP/token.txt")

say "measuring JWKS: wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s GET /.well-known/jwks.json"
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency \
  "$BASE/.well-known/jwks.json" | tee "$TMP/jwks.txt"
if grep -qE '^ *Non-2xx or 3xx responses:' "$TMP/jwks.txt"; then
  die "some JWKS responses were not 2xx/3xx; the figure would measure errors"
fi
JWKS=$(requests_per_second "$TMP/jwks.txt")

# Not concurrently with wrk: the server is idle now, openssl gets the cores to itself.
say "openssl speed -seconds $OPENSSL_SECONDS -multi $CORES rsa2048 (sign, then verify)"
openssl speed -seconds "$OPENSSL_SECONDS" -multi "$CORES" rsa2048 >"$TMP/openssl.txt" 2>&1 ||
  die "openssl speed failed: $(tail -n 5 "$TMP/openssl.txt")"
# The sign/s column, found by its header (OpenSSL 3.4+ adds encrypt/decrypt columns).
SIGNS=$(awk '
  /sign\/s/ && !/^rsa/ { for (i = 1; i <= NF; i++) if ($i == "sign/s") column = i }
  /^rsa +2048 +bits/ && column { value = $(column + 3) }
  END { if (value != "") print value }' "$TMP/openssl.txt")
[[ -n $SIGNS ]] || die "no 'rsa 2048 bits' sign/s figure in the openssl speed output: $(tail -n 5 "$TMP/openssl.txt")"

RATIO=$(awk -v t="$TOKENS" -v s="$SIGNS" 'BEGIN { printf "%.1f", (s > 0) ? 100 * t / s : 0 }')
VERDICT=$(awk -v r="$RATIO" 'BEGIN { print (r >= 35) ? "meets target" : "BELOW target" }')

printf '\n'
printf 'date: %s   nproc: %s   load before: %s   openssl %s   signing key: %s bits\n' \
  "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$CORES" "$LOAD" "$(openssl version | awk '{ print $2 }')" "$KEY"
printf 'client_credentials tokens/s (%s workers): %.0f\n' "$WORKERS" "$TOKENS"
printf 'RSA-2048 signatures/s (openssl speed, %s processes): %.0f\n' "$CORES" "$SIGNS"
printf 'ratio: %s %%  (target >= 35 %%, %s)\n' "$RATIO" "$VERDICT"
printf 'JWKS requests/s: %.0f\n' "$JWKS"

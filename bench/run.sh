#!/usr/bin/env bash
# Throughput of `authserver serve --workers 2` next to what `openssl speed` says this
# machine's RSA-2048 can do at all (bench/README.md). Four parts:
#
#   sqlite      client_credentials tokens/s and JWKS requests/s (SQLite database)
#   postgresql  refresh token rotations/s and introspections/s (a PostgreSQL database
#               created for the run, seeded by bench/seed_families.py, dropped at exit)
#   verifier    Verifier.verify (authserver.resource) per core on a warm cache, tokens
#               and JWKS from the server on SQLite, beside `openssl speed rsa2048` in
#               one process (bench/verifier.py)
#   statuslist  what the Token Status List costs, in one process: tokens/s with a status
#               entry beside without, a 1,048,576-entry list with 1 % revoked: its size,
#               build and take-in cost (bench/status_lists.py)
#   peer        authserver beside node-oidc-provider (bench/peer), both measured in rounds
#               in one run, as ratios (bench/compare.py; its JSON goes to BENCH_OUT, its
#               figures beside it through bench/plot.py)
#
# Everything else lives in a temporary directory removed at exit.
#
#   BENCH_SECONDS          wrk duration of each measurement (default 10)
#   BENCH_OPENSSL_SECONDS  openssl speed -seconds (default 5; sign then verify, so twice that)
#   BENCH_PARTS            which parts to run (default "sqlite postgresql verifier statuslist peer")
#   BENCH_VERIFIER_SECONDS the verifier's measured loop in seconds (default 8)
#   BENCH_POSTGRES_URL     a PostgreSQL URL to create and drop the run's database through
#                          (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres)
#   BENCH_OUT              the peer part's JSON (default var/bench/compare.json); its other
#                          settings (BENCH_ROUNDS, BENCH_QUIET_LOAD, ...): bench/README.md
#   VENV                   the virtualenv, relative to the repository root (default .venv)
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV_DIR=${VENV:-.venv}
[[ $VENV_DIR == /* ]] || VENV_DIR=$ROOT/$VENV_DIR
PYTHON=$VENV_DIR/bin/python
AUTHSERVER=$VENV_DIR/bin/authserver
SEED=$ROOT/bench/seed_families.py

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
OPENSSL_SECONDS=${BENCH_OPENSSL_SECONDS:-5}
PARTS=${BENCH_PARTS:-sqlite postgresql verifier statuslist peer}
VERIFIER_SECONDS=${BENCH_VERIFIER_SECONDS:-8}
POSTGRES_ADMIN_URL=${BENCH_POSTGRES_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres}
WORKERS=2
THREADS=2
CONNECTIONS=16
# Issue 11's introspection target is stated at 32 connections.
INTROSPECT_CONNECTIONS=32

say() { printf '==> %s\n' "$*"; }
die() {
  printf 'bench: %s\n' "$*" >&2
  exit 1
}
part_selected() { [[ " $PARTS " == *" $1 "* ]]; }

for part in $PARTS; do
  [[ $part == sqlite || $part == postgresql || $part == verifier || $part == statuslist ||
    $part == peer ]] ||
    die "BENCH_PARTS: unknown part '$part' (sqlite, postgresql, verifier, statuslist, peer)"
done
part_selected sqlite || part_selected postgresql || part_selected verifier ||
  part_selected statuslist || part_selected peer || die "BENCH_PARTS names no part"
# The parts that load the server with wrk (the verifier part does not).
SERVER_PARTS=""
if part_selected sqlite || part_selected postgresql; then SERVER_PARTS=yes; fi
if [[ -n $SERVER_PARTS ]] || part_selected peer; then
  command -v wrk >/dev/null 2>&1 || die "wrk is missing: apt-get install -y wrk"
fi
# The peer part's JSON, relative to where run.sh was started (it cds into its temp dir).
PEER_OUT=${BENCH_OUT:-$ROOT/var/bench/compare.json}
[[ $PEER_OUT == /* ]] || PEER_OUT=$PWD/$PEER_OUT
command -v openssl >/dev/null 2>&1 || die "openssl is missing: apt-get install -y openssl"
command -v curl >/dev/null 2>&1 || die "curl is missing: apt-get install -y curl"
command -v setsid >/dev/null 2>&1 || die "setsid is missing: apt-get install -y util-linux"
[[ -x $AUTHSERVER && -x $PYTHON ]] || die "no authserver in $VENV_DIR: run 'make bench' (it installs the venv)"
[[ $SECONDS_PER_RUN =~ ^[1-9][0-9]*$ ]] || die "BENCH_SECONDS must be a positive integer, not '$SECONDS_PER_RUN'"
[[ $OPENSSL_SECONDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_OPENSSL_SECONDS must be a positive integer, not '$OPENSSL_SECONDS'"
[[ $VERIFIER_SECONDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_VERIFIER_SECONDS must be a positive integer, not '$VERIFIER_SECONDS'"
# refresh.lua hands thread i the tokens i, i+THREADS, ...: one more than wrk gives it connections.
((CONNECTIONS % THREADS == 0)) || die "CONNECTIONS must be a multiple of THREADS"

if part_selected postgresql; then
  # Before the sqlite part, so that a missing PostgreSQL does not cost its 40 s first.
  "$PYTHON" "$SEED" ping "$POSTGRES_ADMIN_URL" 2>"${TMPDIR:-/tmp}/authserver-bench-ping.$$" || {
    reason=$(tail -n 1 "${TMPDIR:-/tmp}/authserver-bench-ping.$$")
    rm -f "${TMPDIR:-/tmp}/authserver-bench-ping.$$"
    die "no PostgreSQL answers at BENCH_POSTGRES_URL ($reason); BENCH_PARTS=sqlite skips that part"
  }
  rm -f "${TMPDIR:-/tmp}/authserver-bench-ping.$$"
fi

CORES=$(nproc)
# Other work on the machine skews both figures, and differently: shown with the result.
LOAD=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null) || LOAD=unknown
TMP=$(mktemp -d "${TMPDIR:-/tmp}/authserver-bench.XXXXXX")
SERVER_PID=""
SERVER_LOG=""
PG_NAME=""

stop_server() {
  [[ -n $SERVER_PID ]] || return 0
  # setsid made the server the leader of its own process group: stop it and its workers.
  kill -TERM -- "-$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 -- "-$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

cleanup() {
  local status=$?
  set +e
  stop_server
  if [[ -n $PG_NAME ]]; then
    "$PYTHON" "$SEED" dropdb "$POSTGRES_ADMIN_URL" "$PG_NAME" ||
      printf 'bench: could not drop database %s; drop it by hand\n' "$PG_NAME" >&2
  fi
  rm -rf -- "$TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

server_log_tail() {
  printf -- '--- server log (last 30 lines) ---\n' >&2
  tail -n 30 "$SERVER_LOG" >&2 || true
}

cd "$TMP"

# peer_part: bench/compare.py, which runs both servers itself (own temp dir, own cleanup),
# waits for a quiet machine before each round and prints its own table; then its figures.
peer_part() {
  printf '\n'
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    say "peer part skipped: node-oidc-provider needs node and npm (apt-get install -y nodejs npm)"
    return 0
  fi
  say "peer part: authserver beside node-oidc-provider, ${BENCH_ROUNDS:-5} rounds (bench/compare.py)"
  BENCH_OUT=$PEER_OUT "$PYTHON" "$ROOT/bench/compare.py" || die "bench/compare.py failed"
  "$PYTHON" "$ROOT/bench/plot.py" "$PEER_OUT" "$(dirname "$PEER_OUT")" ||
    printf 'bench: bench/plot.py failed (matplotlib missing? make bench installs it)\n' >&2
}

PORT=$("$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT

export AUTHSERVER_MODE=development
export AUTHSERVER_KEYS_DIR=$TMP/keys
export AUTHSERVER_ISSUER=$BASE
# The ratios compare against RSA-2048: keep the default key size (2048), which is
# checked against the JWKS below.
unset AUTHSERVER_KEYS_RSA_BITS
# Defaults for what the refresh run measures: no idle expiry, no reuse grace.
unset AUTHSERVER_REFRESH_TOKEN_IDLE_TTL AUTHSERVER_REFRESH_REUSE_GRACE
# One client makes every request: its per-client rate limit (1000/s per process by
# default) would cap the figures. Off, as the peer has none; one process, no Redis.
export AUTHSERVER_CLIENT_RATE_LIMIT=0
unset AUTHSERVER_REDIS_URL AUTHSERVER_KEYS_STORE

KEY=""
# start_server NAME: serves AUTHSERVER_DATABASE_URL on $PORT, waits for /healthz, checks the key.
start_server() {
  SERVER_LOG=$TMP/server-$1.log
  say "starting authserver serve --workers $WORKERS on port $PORT ($1)"
  setsid "$AUTHSERVER" serve --port "$PORT" --workers "$WORKERS" --no-access-log \
    >"$SERVER_LOG" 2>&1 </dev/null &
  SERVER_PID=$!
  local ready=""
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
}

# Errors the server logged (it runs with --no-access-log, so normally none).
server_log_problems() {
  grep -cE 'ERROR|Traceback|CRITICAL' "$SERVER_LOG" 2>/dev/null || true
}

# Prints Requests/sec of a wrk output file; fails when wrk reported none.
requests_per_second() {
  local rate
  rate=$(awk '/^Requests\/sec:/ { print $2 }' "$1")
  [[ -n $rate ]] || die "no Requests/sec in the wrk output ($1)"
  printf '%s\n' "$rate"
}

# latency_ms FILE PERCENT: a `wrk --latency` percentile in milliseconds.
latency_ms() {
  awk -v p="$2%" '
    $1 == p && !done {
      value = $2
      if (value ~ /us$/) { sub(/us$/, "", value); value /= 1000 }
      else if (value ~ /ms$/) { sub(/ms$/, "", value) }
      else if (value ~ /m$/) { sub(/m$/, "", value); value *= 60000 }
      else if (value ~ /s$/) { sub(/s$/, "", value); value *= 1000 }
      printf "%.2f\n", value
      done = 1
    }' "$1"
}

# requests_completed FILE: how many responses wrk read.
requests_completed() {
  awk '$2 == "requests" && $3 == "in" { print $1 }' "$1"
}

# cpu_snapshot, then cpu_per_request WRK_OUTPUT: "SERVER_MS PG_MS OTHERS_PERCENT", the
# CPU milliseconds per request of the server's processes and of the run's PostgreSQL
# backends in between, and the share of the machine's CPU that everything else (wrk,
# other work) used meanwhile (bench/cputime.py).
cpu_snapshot() {
  "$PYTHON" "$ROOT/bench/cputime.py" snapshot "$TMP/cpu.json" "$SERVER_PID" ${PG_NAME:+"$PG_NAME"}
}
cpu_per_request() {
  local used
  used=$("$PYTHON" "$ROOT/bench/cputime.py" since "$TMP/cpu.json" "$SERVER_PID" ${PG_NAME:+"$PG_NAME"})
  awk -v used="$used" -v n="$(requests_completed "$1")" -v pg="${PG_NAME:+yes}" 'BEGIN {
    split(used, u, " ")
    others = (u[4] > 0) ? 100 * (u[3] - u[1] - u[2]) / u[4] : 0
    if (n <= 0) { print "- - -"; exit }
    printf "%.2f %s %.0f\n", 1000 * u[1] / n, (pg == "") ? "-" : sprintf("%.2f", 1000 * u[2] / n),
      (others > 0) ? others : 0
  }'
}

# socket_errors FILE: wrk's "Socket errors" line, empty when there were none.
socket_errors() {
  awk '/Socket errors:/ { sub(/^ +/, ""); print }' "$1"
}

# counter FILE LABEL: the number a Lua done() printed as "LABEL: N"; fails when missing.
counter() {
  local value
  value=$(awk -v label="$2:" 'index($0, label) == 1 { print $NF }' "$1")
  [[ $value =~ ^[0-9]+$ ]] || die "the wrk script printed no '$2' count in $1; are the bench/*.lua files intact?"
  printf '%s\n' "$value"
}

# must_be_zero FILE LABEL...: fails when any of the counters is not 0.
must_be_zero() {
  local file=$1 label value
  shift
  for label in "$@"; do
    value=$(counter "$file" "$label")
    if ((value > 0)); then
      grep -E '^first (non-200|bad) response:' "$file" >&2 || true
      server_log_tail
      die "$label: $value ($file); the figure would measure errors"
    fi
  done
}

# check_chains WRK_OUTPUT FAMILIES_FILE: what the database says about a refresh run. No
# family may be revoked (a replayed token revokes its family), each keeps exactly one
# live token, and the rotations stored are the 200s wrk counted plus at most one per
# connection (requests in flight when wrk stopped, committed but never read).
check_chains() {
  local started answered families revoked stored live
  started=$(counter "$1" "chains started")
  ((started == CHAINS)) || die "$started refresh chains started, not $CHAINS ($1)"
  answered=$(counter "$1" "rotations answered")
  "$PYTHON" "$SEED" chains "$AUTHSERVER_DATABASE_URL" "$2" >"$1.db"
  families=$(counter "$1.db" "families")
  revoked=$(counter "$1.db" "revoked families")
  stored=$(counter "$1.db" "rotations stored")
  live=$(counter "$1.db" "live tokens")
  printf 'database: %s families, %s revoked, %s rotations stored (wrk read %s), %s live tokens\n' \
    "$families" "$revoked" "$stored" "$answered" "$live"
  ((families == CHAINS && revoked == 0)) || die "$revoked of $families families were revoked: a chain replayed a token"
  ((live == CHAINS)) || die "$live live refresh tokens for $CHAINS families: a chain broke"
  ((stored >= answered && stored - answered <= CONNECTIONS)) ||
    die "$stored rotations stored, but wrk read $answered answers: they disagree by more than the $CONNECTIONS requests in flight"
}

# ---------------------------------------------------------------- sqlite part

# sqlite_database: the SQLite database and the `bench` client (BENCH_AUTHORIZATION), once;
# the sqlite and verifier parts both use them.
SQLITE_READY=""
sqlite_database() {
  export AUTHSERVER_DATABASE_URL=sqlite:///$TMP/bench.db
  [[ -z $SQLITE_READY ]] || return 0
  say "SQLite database and client in $TMP"
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
  SQLITE_READY=yes
}

TOKENS="" JWKS="" TOKENS_P50="" TOKENS_P99="" JWKS_P50="" JWKS_P99=""
if part_selected sqlite; then
  sqlite_database
  start_server sqlite

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

  say "warm-up: 2 s of token requests"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$ROOT/bench/token.lua" "$BASE/token" >"$TMP/warmup.txt"
  must_be_zero "$TMP/warmup.txt" "non-200 responses"

  say "measuring tokens: wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s POST /token"
  cpu_snapshot
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$ROOT/bench/token.lua" \
    "$BASE/token" | tee "$TMP/token.txt"
  TOKENS_CPU=$(cpu_per_request "$TMP/token.txt")
  must_be_zero "$TMP/token.txt" "non-200 responses"
  TOKENS=$(requests_per_second "$TMP/token.txt")
  TOKENS_P50=$(latency_ms "$TMP/token.txt" 50)
  TOKENS_P99=$(latency_ms "$TMP/token.txt" 99)

  say "measuring JWKS: wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s GET /.well-known/jwks.json"
  cpu_snapshot
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency \
    "$BASE/.well-known/jwks.json" | tee "$TMP/jwks.txt"
  JWKS_CPU=$(cpu_per_request "$TMP/jwks.txt")
  if grep -qE '^ *Non-2xx or 3xx responses:' "$TMP/jwks.txt"; then
    die "some JWKS responses were not 2xx/3xx; the figure would measure errors"
  fi
  JWKS=$(requests_per_second "$TMP/jwks.txt")
  JWKS_P50=$(latency_ms "$TMP/jwks.txt" 50)
  JWKS_P99=$(latency_ms "$TMP/jwks.txt" 99)
  SQLITE_LOG_PROBLEMS=$(server_log_problems)
  stop_server
fi

# ------------------------------------------------------------ postgresql part

REFRESH="" INTROSPECT="" REFRESH_P50="" REFRESH_P99="" INTROSPECT_P50="" INTROSPECT_P99=""
REFRESH_SOCKET="" INTROSPECT_SOCKET="" PG_LOG_PROBLEMS=""
if part_selected postgresql; then
  # The name is known before the database exists, so cleanup drops it whatever fails after.
  PG_NAME=authserver_bench_$("$PYTHON" -c 'import secrets; print(secrets.token_hex(6))')
  say "PostgreSQL database $PG_NAME"
  PG_URL=$("$PYTHON" "$SEED" createdb "$POSTGRES_ADMIN_URL" "$PG_NAME" 2>"$TMP/createdb.err") ||
    die "cannot create a database through BENCH_POSTGRES_URL ($(tail -n 1 "$TMP/createdb.err")); BENCH_PARTS=sqlite skips this part"
  export AUTHSERVER_DATABASE_URL=$PG_URL

  # One chain per wrk connection, plus one spare per thread (bench/refresh.lua says why),
  # fresh for each wrk run: a run ends with tokens in flight whose rotation the server
  # may have committed, so no chain outlives its run.
  CHAINS=$((CONNECTIONS + THREADS))
  say "seeding token families (check: 1, refresh warm-up and measurement: $CHAINS each, introspection: $CONNECTIONS)"
  "$PYTHON" "$SEED" seed "$PG_URL" "$TMP/pg" check=1 refresh_warmup="$CHAINS" \
    refresh="$CHAINS" introspect="$CONNECTIONS"
  REFRESH_AUTHORIZATION=$("$PYTHON" -c 'import json, sys
print(json.load(open(sys.argv[1]))["refresh_authorization"])' "$TMP/pg/clients.json")
  INTROSPECT_AUTHORIZATION=$("$PYTHON" -c 'import json, sys
print(json.load(open(sys.argv[1]))["introspect_authorization"])' "$TMP/pg/clients.json")

  start_server postgresql

  say "checking one refresh, then one refresh per introspection family for access tokens"
  "$PYTHON" "$SEED" prime "$BASE" "$REFRESH_AUTHORIZATION" "$TMP/pg/check.tokens" "$TMP/pg/check.access" ||
    {
      server_log_tail
      die "the refresh token grant does not work; nothing to measure"
    }
  "$PYTHON" "$SEED" prime "$BASE" "$REFRESH_AUTHORIZATION" "$TMP/pg/introspect.tokens" \
    "$TMP/pg/introspect.access"
  code=$(curl -sS --max-time 5 -o "$TMP/introspect.json" -w '%{http_code}' -X POST \
    -H "Authorization: $INTROSPECT_AUTHORIZATION" \
    -H "Content-Type: application/x-www-form-urlencoded" \
    --data "token=$(head -n 1 "$TMP/pg/check.access")" "$BASE/introspect") || code=000
  if [[ $code != 200 ]] || ! grep -q '"active":true' "$TMP/introspect.json"; then
    printf 'POST /introspect answered %s: %s\n' "$code" "$(head -c 500 "$TMP/introspect.json")" >&2
    server_log_tail
    die "introspection does not answer active for a fresh access token; nothing to measure"
  fi

  REFRESH_COUNTERS=("non-200 responses" "responses without a refresh_token" "requests without a live token")
  say "warm-up: 2 s of refresh rotations"
  BENCH_AUTHORIZATION=$REFRESH_AUTHORIZATION BENCH_TOKENS_FILE=$TMP/pg/refresh_warmup.tokens \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s --timeout 10s -s "$ROOT/bench/refresh.lua" \
    "$BASE/token" -- "$THREADS" >"$TMP/refresh-warmup.txt"
  must_be_zero "$TMP/refresh-warmup.txt" "${REFRESH_COUNTERS[@]}"
  check_chains "$TMP/refresh-warmup.txt" "$TMP/pg/refresh_warmup.families"

  say "measuring refresh rotations: wrk -t$THREADS -c$CONNECTIONS -d${SECONDS_PER_RUN}s POST /token grant_type=refresh_token"
  cpu_snapshot
  BENCH_AUTHORIZATION=$REFRESH_AUTHORIZATION BENCH_TOKENS_FILE=$TMP/pg/refresh.tokens \
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --timeout 10s --latency \
    -s "$ROOT/bench/refresh.lua" "$BASE/token" -- "$THREADS" | tee "$TMP/refresh.txt"
  REFRESH_CPU=$(cpu_per_request "$TMP/refresh.txt")
  must_be_zero "$TMP/refresh.txt" "${REFRESH_COUNTERS[@]}"
  check_chains "$TMP/refresh.txt" "$TMP/pg/refresh.families"
  REFRESH=$(requests_per_second "$TMP/refresh.txt")
  REFRESH_P50=$(latency_ms "$TMP/refresh.txt" 50)
  REFRESH_P99=$(latency_ms "$TMP/refresh.txt" 99)
  REFRESH_SOCKET=$(socket_errors "$TMP/refresh.txt")

  INTROSPECT_COUNTERS=("non-200 responses" "responses not active")
  say "warm-up: 2 s of introspections"
  BENCH_AUTHORIZATION=$INTROSPECT_AUTHORIZATION BENCH_TOKENS_FILE=$TMP/pg/introspect.access \
    wrk -t"$THREADS" -c"$INTROSPECT_CONNECTIONS" -d2s --timeout 10s -s "$ROOT/bench/introspect.lua" \
    "$BASE/introspect" >"$TMP/introspect-warmup.txt"
  must_be_zero "$TMP/introspect-warmup.txt" "${INTROSPECT_COUNTERS[@]}"

  say "measuring introspections: wrk -t$THREADS -c$INTROSPECT_CONNECTIONS -d${SECONDS_PER_RUN}s POST /introspect"
  cpu_snapshot
  BENCH_AUTHORIZATION=$INTROSPECT_AUTHORIZATION BENCH_TOKENS_FILE=$TMP/pg/introspect.access \
    wrk -t"$THREADS" -c"$INTROSPECT_CONNECTIONS" -d"${SECONDS_PER_RUN}s" --timeout 10s --latency \
    -s "$ROOT/bench/introspect.lua" "$BASE/introspect" | tee "$TMP/introspect.txt"
  INTROSPECT_CPU=$(cpu_per_request "$TMP/introspect.txt")
  must_be_zero "$TMP/introspect.txt" "${INTROSPECT_COUNTERS[@]}"
  INTROSPECT=$(requests_per_second "$TMP/introspect.txt")
  INTROSPECT_P50=$(latency_ms "$TMP/introspect.txt" 50)
  INTROSPECT_P99=$(latency_ms "$TMP/introspect.txt" 99)
  INTROSPECT_SOCKET=$(socket_errors "$TMP/introspect.txt")
  PG_LOG_PROBLEMS=$(server_log_problems)
  stop_server
fi

# --------------------------------------------------------------- verifier part

if part_selected verifier; then
  # The server only issues the tokens and answers discovery and the JWKS once; it idles
  # while bench/verifier.py measures, and then runs openssl speed in one process.
  sqlite_database
  start_server verifier
  say "measuring Verifier.verify: one thread, warm cache, ${VERIFIER_SECONDS} s; then openssl speed -seconds $OPENSSL_SECONDS rsa2048 (1 process)"
  "$PYTHON" "$ROOT/bench/verifier.py" --issuer "$BASE" --authorization "$BENCH_AUTHORIZATION" \
    --scope bench:read --seconds "$VERIFIER_SECONDS" --openssl-seconds "$OPENSSL_SECONDS" |
    tee "$TMP/verifier.txt" || {
    server_log_tail
    die "bench/verifier.py failed"
  }
  VERIFIER_LOG_PROBLEMS=$(server_log_problems)
  stop_server
fi

# ------------------------------------------------------------- statuslist part

if part_selected statuslist; then
  say "Token Status List: tokens with and without a status entry, a 1,048,576-entry list (bench/status_lists.py)"
  "$PYTHON" "$ROOT/bench/status_lists.py" | tee "$TMP/statuslist.txt" || die "bench/status_lists.py failed"
fi

# ---------------------------------------------------------------- RSA ceiling

percent() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b > 0) ? 100 * a / b : 0 }'; }
# row NAME DATABASE RATE P50 P99 "SERVER_MS PG_MS OTHERS_PERCENT" SHARE
row() {
  local cpu=($6)
  printf '%-32s %-10s %6.0f %7s %7s %7s %7s %6s   %s\n' "$1" "$2" "$3" "$4" "$5" \
    "${cpu[0]}" "${cpu[1]}" "${cpu[2]}%" "$7"
}
# The sign/s and verify/s columns, found by their headers (OpenSSL 3.4+ adds
# encrypt/decrypt columns).
openssl_rate() {
  awk -v name="$1" '
    /sign\/s/ && !/^rsa/ { for (i = 1; i <= NF; i++) if ($i == name) column = i }
    /^rsa +2048 +bits/ && column { value = $(column + 3) }
    END { if (value != "") print value }' "$TMP/openssl.txt"
}
# verifier_figure LABEL: the value of a "LABEL: value" line of bench/verifier.py's summary.
verifier_figure() {
  awk -v label="$1:" 'index($0, label) == 1 { sub(/^[^:]*: */, ""); print }' "$TMP/verifier.txt"
}

# The verifier part measured its own ceiling, per core; the server parts need all cores'.
if [[ -n $SERVER_PARTS ]]; then
  # Not concurrently with wrk: the server is stopped now, openssl gets the cores to itself.
  say "openssl speed -seconds $OPENSSL_SECONDS -multi $CORES rsa2048 (sign, then verify)"
  openssl speed -seconds "$OPENSSL_SECONDS" -multi "$CORES" rsa2048 >"$TMP/openssl.txt" 2>&1 ||
    die "openssl speed failed: $(tail -n 5 "$TMP/openssl.txt")"
  SIGNS=$(openssl_rate sign/s)
  VERIFIES=$(openssl_rate verify/s)
  [[ -n $SIGNS && -n $VERIFIES ]] ||
    die "no 'rsa 2048 bits' sign/s and verify/s figures in the openssl speed output: $(tail -n 5 "$TMP/openssl.txt")"
  # CPU time, unlike openssl's rates, hardly depends on what else runs on the machine.
  read -r SIGN_MS VERIFY_MS RSA_LIBRARY < <("$PYTHON" "$ROOT/bench/cputime.py" rsa) ||
    die "bench/cputime.py rsa failed"
fi

if [[ -z $SERVER_PARTS ]] && ! part_selected verifier; then
  part_selected peer && peer_part # it prints its own summary
  exit 0
fi

printf '\n'
printf 'date: %s   nproc: %s   load before: %s   openssl %s   signing key: %s bits\n' \
  "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "$CORES" "$LOAD" "$(openssl version | awk '{ print $2 }')" "$KEY"
if [[ -n $SERVER_PARTS ]]; then
  printf 'server: authserver serve --workers %s; load: wrk -t%s -c%s (introspection -c%s), %s s per measurement\n' \
    "$WORKERS" "$THREADS" "$CONNECTIONS" "$INTROSPECT_CONNECTIONS" "$SECONDS_PER_RUN"
  printf 'RSA-2048 (openssl speed, %s processes): %.0f sign/s, %.0f verify/s\n\n' "$CORES" "$SIGNS" "$VERIFIES"
  printf '%-32s %-10s %6s %7s %7s %7s %7s %6s   %s\n' "" "" "" "" "" "server" "PG" "others" ""
  printf '%-32s %-10s %6s %7s %7s %7s %7s %6s   %s\n' measurement database "req/s" "p50 ms" "p99 ms" \
    "CPU ms" "CPU ms" "CPU" "req/s as a share of the RSA ceiling"
  if part_selected sqlite; then
    row "client_credentials POST /token" SQLite "$TOKENS" "$TOKENS_P50" "$TOKENS_P99" "$TOKENS_CPU" \
      "$(percent "$TOKENS" "$SIGNS") % of sign/s (1 signature each)"
    row "JWKS GET /.well-known/jwks.json" - "$JWKS" "$JWKS_P50" "$JWKS_P99" "$JWKS_CPU" "(no RSA)"
  fi
  if part_selected postgresql; then
    row "refresh rotation POST /token" PostgreSQL "$REFRESH" "$REFRESH_P50" "$REFRESH_P99" "$REFRESH_CPU" \
      "$(percent "$REFRESH" "$SIGNS") % of sign/s (1 signature each)"
    row "introspection POST /introspect" PostgreSQL "$INTROSPECT" "$INTROSPECT_P50" "$INTROSPECT_P99" \
      "$INTROSPECT_CPU" "$(percent "$INTROSPECT" "$VERIFIES") % of verify/s (1 verification each)"
  fi
  printf 'CPU ms: per request, of the server processes and of the run'"'"'s PostgreSQL backends.\n'
  printf 'others CPU: the share of all %s cores used meanwhile by everything else, wrk included.\n' "$CORES"
  printf 'For scale, in-process (%s): one RSA-2048 signature %s ms CPU, one verification %s ms.\n' \
    "$RSA_LIBRARY" "$SIGN_MS" "$VERIFY_MS"
fi
if part_selected verifier; then
  printf 'verifier: Verifier.verify, 1 thread, warm cache, %s s: %s/s wall; bare cryptography verify: %s/s per core (the verifier reaches %s of it)\n' \
    "$VERIFIER_SECONDS" "$(verifier_figure "verifier verifications/s wall")" \
    "$(verifier_figure "bare cryptography verify/s per core")" \
    "$(verifier_figure "verifier share of bare cryptography")"
fi
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n'
if part_selected sqlite; then
  RATIO=$(percent "$TOKENS" "$SIGNS")
  VERDICT=$(awk -v r="$RATIO" 'BEGIN { print (r >= 35) ? "meets target" : "BELOW target" }')
  printf 'client_credentials tokens/s (%s workers): %.0f\n' "$WORKERS" "$TOKENS"
  printf 'RSA-2048 signatures/s (openssl speed, %s processes): %.0f\n' "$CORES" "$SIGNS"
  printf 'ratio: %s %%  (target >= 35 %%, %s)\n' "$RATIO" "$VERDICT"
  printf 'JWKS requests/s: %.0f\n' "$JWKS"
  [[ ${SQLITE_LOG_PROBLEMS:-0} == 0 ]] ||
    printf 'note: the SQLite server logged %s error lines\n' "$SQLITE_LOG_PROBLEMS"
fi
if part_selected postgresql; then
  printf 'refresh rotations/s (PostgreSQL, %s connections, no chain broken): %.0f\n' "$CONNECTIONS" "$REFRESH"
  printf 'introspections/s (PostgreSQL, %s connections, all active): %.0f\n' "$INTROSPECT_CONNECTIONS" "$INTROSPECT"
  [[ -z $REFRESH_SOCKET ]] || printf 'note: refresh run: %s\n' "$REFRESH_SOCKET"
  [[ -z $INTROSPECT_SOCKET ]] || printf 'note: introspection run: %s\n' "$INTROSPECT_SOCKET"
  [[ ${PG_LOG_PROBLEMS:-0} == 0 ]] ||
    printf 'note: the PostgreSQL server logged %s error lines\n' "$PG_LOG_PROBLEMS"
fi
if part_selected verifier; then
  printf 'Verifier.verify/s per core (1 thread, warm cache): %s\n' \
    "$(verifier_figure "verifier verifications/s per core")"
  printf 'RSA-2048 verify/s per core (openssl speed, 1 process): %s\n' \
    "$(verifier_figure "openssl RSA-2048 verify/s per core")"
  printf 'verifier ratio: %s\n' "$(verifier_figure "verifier ratio")"
  [[ ${VERIFIER_LOG_PROBLEMS:-0} == 0 ]] ||
    printf 'note: the server of the verifier part logged %s error lines\n' "$VERIFIER_LOG_PROBLEMS"
fi

# ------------------------------------------------------------------- peer part

# Last, after the summary above: it takes 10-20 minutes and prints a table of its own.
if part_selected peer; then
  peer_part
fi

#!/usr/bin/env bash
# What PostgreSQL costs an instance against SQLite: one build, two servers (one on a fresh
# PostgreSQL database, one on SQLite), each with one user of 20 todos, measured alternately
# ROUNDS times on the same requests (GET /todos revalidated with its tag, a 304, then answered,
# a 200). Per run: requests/s, the server's CPU time per request (user + system), and on
# PostgreSQL its `sendto` calls per request (each statement written to the server is one unless
# several travel together: see store/postgres/shared.rs) and its statements per request. Then,
# per request, the median over the rounds of the ratio PostgreSQL / SQLite of the CPU times.
#
#   bash bench/backends.sh
#   ROUNDS=5 DURATION=5 SERVER_BIN=/tmp/new/todo-jwt bash bench/backends.sh
#   CONNECTIONS=1 bash bench/backends.sh    # one client at a time: nothing to pipeline
#   PG_SOCKET=/var/run/postgresql bash bench/backends.sh   # through PostgreSQL's Unix socket
#
# The sends are counted with `perf stat` on the syscalls:sys_enter_sendto tracepoint (Debian's
# linux-perf; left out, with a note, where the kernel does not allow it).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
PG_PORT=${PG_PORT:-3381}
SQLITE_PORT=${SQLITE_PORT:-3382}
need_package wrk
need_package perf linux-perf
release_server
BACKEND=postgres postgres_database "todo_jwt_backends_$$"
if [ -n "${PG_SOCKET:-}" ]; then
  # The same database and user, through the socket in PG_SOCKET (the URL's host, encoded).
  pg_user=${DATABASE_URL#postgres://}
  DATABASE_URL="postgres://${pg_user%%@*}@${PG_SOCKET//\//%2F}/${DATABASE_URL##*/}"
fi
random_secret

start() {
  local port=$1 url=$2
  mkdir -p "$work/data$port"
  env RUST_LOG="${RUST_LOG:-info}" TODO_JWT_PORT="$port" TODO_JWT_DATA_DIR="$work/data$port" \
    ${url:+TODO_JWT_DATABASE_URL=$url} "$SERVER_BIN" >"$work/server$port.log" 2>&1 &
  bench_pids+=("$!")
  echo "$!" >"$work/pid$port"
  wait_until_up "http://127.0.0.1:$port/healthz"
  local base=http://127.0.0.1:$port token
  token=$(signed_up_token "$base" reader@example.com)
  for i in $(seq 20); do
    curl -sf "$base/todos" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"title\":\"todo number $i\",\"desc\":\"something to do\"}" >/dev/null
  done
  echo "$token" >"$work/token$port"
  curl -sfi "$base/todos" -H "Authorization: Bearer $token" |
    awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r' >"$work/tag$port"
}
start "$PG_PORT" "$DATABASE_URL"
start "$SQLITE_PORT" ""

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
statements() {
  { curl -sf "http://127.0.0.1:$1/metrics" || true; } |
    awk '$1 == "database_statements_total" {n = $2} END {print n + 0}'
}

# measure PORT KIND -> a line "KIND PORT rps cpu_us sends statements" in $work/rows
measure() {
  local port=$1 kind=$2 pid token header=()
  pid=$(cat "$work/pid$port")
  token=$(cat "$work/token$port")
  [ "$kind" = 304 ] && header=(-H "If-None-Match: $(cat "$work/tag$port")")
  local ticks statements_before
  statements_before=$(statements "$port")
  ticks=$(cpu_ticks "$pid")
  perf stat -x, -e syscalls:sys_enter_sendto -p "$pid" -o "$work/perf.txt" -- \
    sleep "$DURATION" >/dev/null 2>&1 &
  local perf_pid=$!
  wrk -t"$(( CONNECTIONS < 2 ? 1 : 2 ))" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/todos" \
    -H "Authorization: Bearer $token" "${header[@]}" >"$work/wrk.txt"
  wait "$perf_pid" || true
  local requests sends
  requests=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
  sends=$(cut -d, -f1 "$work/perf.txt" 2>/dev/null | grep -E '^[0-9]+$' | head -n 1 || true)
  echo "$kind $port $requests $(( $(cpu_ticks "$pid") - ticks )) ${sends:-none}" \
    "$(( $(statements "$port") - statements_before ))" >>"$work/rows"
}

: >"$work/rows"
for round in $(seq "$ROUNDS"); do
  for kind in 304 200; do
    measure "$PG_PORT" "$kind"
    measure "$SQLITE_PORT" "$kind"
  done
done

python3 - "$work/rows" "$PG_PORT" "$(getconf CLK_TCK)" "$DURATION" "$CONNECTIONS" <<'PY'
import statistics, sys

rows, pg_port, hz, duration, connections = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
runs = {"304": {"pg": [], "sqlite": []}, "200": {"pg": [], "sqlite": []}}
print(f"{'request':8} {'backend':10} {'req/s':>8} {'CPU us':>7} {'sends':>6} {'stmts':>6}")
for line in open(rows):
    kind, port, requests, ticks, sends, statements = line.split()
    requests = int(requests)
    cpu = int(ticks) / hz * 1e6 / requests
    backend = "pg" if port == pg_port else "sqlite"
    runs[kind][backend].append(cpu)
    per_send = f"{int(sends) / requests:.2f}" if sends.isdigit() else "n/a"
    print(f"{kind:8} {backend:10} {requests / duration:8.0f} {cpu:7.1f} {per_send:>6} "
          f"{int(statements) / requests:6.3f}")
print(f"\nwrk -c{connections} -d{duration}s; sends and statements per request")
for kind, by in runs.items():
    ratios = [pg / sqlite for pg, sqlite in zip(by["pg"], by["sqlite"]) if sqlite]
    print(f"GET /todos {kind}: PostgreSQL / SQLite CPU per request, median of {len(ratios)} "
          f"rounds: {statistics.median(ratios):.2f} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")
PY

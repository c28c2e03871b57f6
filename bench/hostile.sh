#!/usr/bin/env bash
# Hostile load against the release binary (loopback only, bounded in time): what a victim's
# GET /todos looks like while attackers run the costliest filters they can build.
#
#   bash bench/hostile.sh                      # target/release/todo-jwt, SQLite
#   BACKEND=postgres bash bench/hostile.sh     # on a fresh PostgreSQL database
#   SERVER_BIN=/tmp/old/todo-jwt bash bench/hostile.sh   # an earlier build, to compare
#
# Seeds an attacker with 60 todos of ~900 KB and a victim with 20 small todos, then measures
# the victim's GET /todos (wrk -t1 -c4) alone, and again while two connections send costly
# filters (a `regexp` and a `like` over those titles) without pause. Prints the victim's
# requests/s, p50, p99, the attackers' answers, and the server's RSS before, during, after.
# Then 600 connections stall ~1 MB bodies (bench/stalled_bodies.py): RSS before, during, after.
# Last, the other rows of issue 10 one by one (bench/hostile_rows.py, about two minutes): long
# `or`/`order` lists, NUL characters, odd regexps, raw malformed requests, huge forms and bodies,
# lists read slowly or not at all, minted tokens, data-directory modes, request ids.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh

DURATION=${DURATION:-10}
PORT=${PORT:-3321}
need_package wrk
release_server
postgres_database "todo_jwt_hostile_$$"
random_secret
# Titles up to 1 MB allowed (the default limit is 2,000 characters), to measure the query
# budget against the longest texts an operator could allow; no login rate limits (the rows
# below sign up and log in more often than they allow, and measure other attacks).
env RUST_LOG=error TODO_JWT_PORT="$PORT" TODO_JWT_DATA_DIR="$work/data" TODO_JWT_MAX_TITLE_LENGTH=1000000 \
  TODO_JWT_AUTH_RATE_LIMIT=0 TODO_JWT_LOGIN_MAX_FAILURES=0 \
  TODO_JWT_MAX_CONNECTIONS_PER_ADDRESS=1024 \
  ${DATABASE_URL:+TODO_JWT_DATABASE_URL=$DATABASE_URL} "$SERVER_BIN" >"$work/server.log" 2>&1 &
server=$!
bench_pids+=("$server")
base=http://127.0.0.1:$PORT
wait_until_up "$base/"

rss() { awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$server/status"; }
victim=$(signed_up_token "$base" victim@example.com hostile-password)
attacker=$(signed_up_token "$base" attacker@example.com hostile-password)
for i in $(seq 20); do
  curl -sf "$base/todos" -H "Authorization: Bearer $victim" -H 'Content-Type: application/json' \
    -d "{\"title\":\"todo number $i\",\"desc\":\"something to do\"}" >/dev/null
done
python3 - "$work/big.json" <<'PY'
import json, sys
json.dump({"title": "A" * (900 * 1024)}, open(sys.argv[1], "w"))
PY
for _ in $(seq 60); do
  curl -sf "$base/todos" -H "Authorization: Bearer $attacker" -H 'Content-Type: application/json' \
    --data-binary @"$work/big.json" >/dev/null
done
idle=$(rss)

enc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }
# shellcheck disable=SC2034 # read as ${!kind} below
regexp=$(enc '{"title":{"regexp":"A{200}B"}}')
# shellcheck disable=SC2034 # read as ${!kind} below
like=$(enc "{\"title\":{\"like\":\"%$(printf 'A%.0s' $(seq 200))B\"}}")

victim_run() {
  wrk -t1 -c4 -d"${DURATION}s" --latency -H "Authorization: Bearer $victim" "$base/todos" >"$work/$1.txt"
  awk -v name="$1" '/Requests\/sec/ {rps=$2} $1 == "50%" {p50=$2} $1 == "99%" {p99=$2}
    END {printf "%-28s %10s req/s  p50 %9s  p99 %9s\n", "victim GET /todos, " name, rps, p50, p99}' "$work/$1.txt"
  if [ -n "${VERBOSE:-}" ]; then cat "$work/$1.txt"; fi
}
attack() {
  wrk -t1 -c1 -d"${DURATION}s" -H "Authorization: Bearer $attacker" "$base/todos/count?where=$1" >"$work/attack-$2.txt"
}

echo "server: $SERVER_BIN; backend: ${BACKEND:-sqlite}; RSS idle after seeding: ${idle} MiB"
victim_run alone
attackers=()
for kind in ${ATTACKS:-regexp like}; do
  attack "${!kind}" "$kind" &
  attackers+=($!)
done
sleep "$((DURATION / 2))"
during=$(rss)
victim_run "under attack"
wait "${attackers[@]}"
for kind in ${ATTACKS:-regexp like}; do
  awk -v kind="$kind" '/requests in/ {n=$1} /Non-2xx/ {bad=$5} END {printf "attacker (%s): %s requests, %s non-2xx\n", kind, n, bad+0}' "$work/attack-$kind.txt"
done
sleep 2
echo "RSS: idle ${idle} MiB, during the attack ${during} MiB, after $(rss) MiB"

echo
echo "600 connections that each send all but the last byte of a ~1 MB body, then stall:"
ulimit -n 4096 2>/dev/null || true
python3 bench/stalled_bodies.py "$PORT" "${STALLED:-600}" "$server" 12

echo
echo "Rows of issue 10, one by one:"
${DATABASE_URL:+env TODO_JWT_DATABASE_URL=$DATABASE_URL} \
  python3 bench/hostile_rows.py "$base" "$server" "$work/data" "${BACKEND:-sqlite}"

#!/usr/bin/env bash
# Reads during a login flood (release binary, fresh SQLite data): a reader's GET /todos alone,
# then while 32 connections log in without pause, with load shedding on (the default wait
# bound) and off (TODO_JWT_MAX_HASH_WAIT_MS=0). Prints the reads' requests/s and p99 (and
# their ratio to alone), and the logins' answers and p99. Rate limits are off, so the flood
# reaches the hashing.
#
#   bash bench/login_flood.sh        # SERVER_BIN=… for another build; DURATION=5
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
DURATION=${DURATION:-5}
# The reads during the flood start a second into it and end a second before it (or with it,
# for the shortest runs): wrk measures nothing in less than a second.
if ! [ "$DURATION" -ge 2 ] 2>/dev/null; then
  echo "DURATION must be a whole number of seconds, at least 2 (was: $DURATION)" >&2
  exit 2
fi
during=$((DURATION > 2 ? DURATION - 2 : 1))
PORT=${PORT:-3351}
need_package wrk
release_server
random_secret
base=http://127.0.0.1:$PORT

summary() { # FILE -> "rps p99 non2xx"
  awk '/Requests\/sec/ {rps=$2} $1 == "99%" {p99=$2} /Non-2xx/ {bad=$5}
    END {printf "%s %s %s", rps, p99, bad+0}' "$1"
}

run() { # NAME WAIT_MS
  rm -rf "$work/data"
  env RUST_LOG=error TODO_JWT_PORT="$PORT" TODO_JWT_DATA_DIR="$work/data" TODO_JWT_AUTH_RATE_LIMIT=0 \
    TODO_JWT_LOGIN_MAX_FAILURES=0 TODO_JWT_MAX_HASH_WAIT_MS="$2" "$SERVER_BIN" >"$work/server.log" 2>&1 &
  server=$!
  bench_pids+=("$server")
  wait_until_up "$base/"
  local token
  token=$(signed_up_token "$base" reader@example.com)
  for i in $(seq 20); do
    curl -sf "$base/todos" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "{\"title\":\"todo $i\"}" >/dev/null
  done
  cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"reader@example.com","password":"benchmark-password"}'
wrk.headers["Content-Type"] = "application/json"
LUA
  wrk -t1 -c8 -d"${DURATION}s" --latency -H "Authorization: Bearer $token" "$base/todos" >"$work/alone.txt"
  wrk -t1 -c32 -d"${DURATION}s" --latency -s "$work/login.lua" "$base/users/login" >"$work/flood.txt" &
  local flood=$!
  sleep 1
  wrk -t1 -c8 -d"${during}s" --latency -H "Authorization: Bearer $token" "$base/todos" >"$work/during.txt"
  wait "$flood"
  read -r alone_rps alone_p99 _ <<<"$(summary "$work/alone.txt")"
  read -r during_rps during_p99 _ <<<"$(summary "$work/during.txt")"
  read -r login_rps login_p99 login_bad <<<"$(summary "$work/flood.txt")"
  python3 - "$1" "$alone_rps" "$alone_p99" "$during_rps" "$during_p99" "$login_rps" "$login_p99" "$login_bad" <<'PY'
import sys
name, a, ap, d, dp, l, lp, lb = sys.argv[1:]
print(f"{name}: reads alone {float(a):.0f}/s p99 {ap}; during the flood {float(d):.0f}/s "
      f"({100 * float(d) / float(a):.0f}% of alone) p99 {dp}; logins {float(l):.0f}/s p99 {lp}, "
      f"non-2xx (503 shed) {lb}")
PY
  stop_server "$server"
}
echo "server: $SERVER_BIN; wrk: reads -t1 -c8, logins -t1 -c32, ${DURATION}s"
run "shedding on (1000 ms, the default)" 1000
run "shedding on (100 ms)" 100
run "shedding off" 0

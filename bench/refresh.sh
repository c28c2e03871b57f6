#!/usr/bin/env bash
# POST /refresh throughput (release binary, fresh SQLite data, or BACKEND=postgres):
#   1. LoopBack mode (TODO_JWT_REFRESH_ROTATION=false): the same refresh token over and over;
#   2. rotation on: the same spent token again and again within the reuse interval (each call
#      finds it spent, follows the chain to the current token, and signs an access token).
# A fresh rotation per request cannot be driven by wrk (each answer names the next token).
#
#   bash bench/refresh.sh            # SERVER_BIN=… for another build; DURATION=5
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
DURATION=${DURATION:-5}
PORT=${PORT:-3341}
need_package wrk
release_server
postgres_database "todo_jwt_refresh_$$"
random_secret
base=http://127.0.0.1:$PORT

measure() { # NAME ROTATION
  rm -rf "$work/data"
  env RUST_LOG=error TODO_JWT_PORT="$PORT" TODO_JWT_DATA_DIR="$work/data" TODO_JWT_REFRESH_ROTATION="$2" \
    TODO_JWT_AUTH_RATE_LIMIT=0 \
    ${DATABASE_URL:+TODO_JWT_DATABASE_URL=$DATABASE_URL} "$SERVER_BIN" >"$work/server.log" 2>&1 &
  server=$!
  bench_pids+=("$server")
  wait_until_up "$base/"
  local email="refresh-$2-$$@example.com"
  curl -sf "$base/signup" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"benchmark-password\"}" >/dev/null
  local token
  token=$(curl -sf "$base/users/refresh-login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"benchmark-password\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["refreshToken"])')
  if [ "$2" = true ]; then
    # Spend it once, so every measured call is a reuse within the interval.
    curl -sf "$base/refresh" -H 'Content-Type: application/json' -d "{\"refreshToken\":\"$token\"}" >/dev/null
  fi
  cat >"$work/refresh.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"refreshToken":"$token"}'
wrk.headers["Content-Type"] = "application/json"
LUA
  wrk -t2 -c32 -d"${DURATION}s" --latency -s "$work/refresh.lua" "$base/refresh" >"$work/wrk.txt"
  awk -v name="$1" '/Requests\/sec/ {rps=$2} $1 == "50%" {p50=$2} $1 == "99%" {p99=$2} /Non-2xx/ {bad=$5}
    END {printf "%-52s %10s req/s  p50 %9s  p99 %9s  non-2xx %s\n", name, rps, p50, p99, bad+0}' "$work/wrk.txt"
  stop_server "$server"
}
echo "server: $SERVER_BIN; backend: ${BACKEND:-sqlite}; wrk -t2 -c32 -d${DURATION}s"
measure "POST /refresh, LoopBack mode (no rotation)" false
measure "POST /refresh, rotation on, a spent token within the interval" true

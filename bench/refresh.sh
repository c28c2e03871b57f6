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
DURATION=${DURATION:-5}
PORT=${PORT:-3341}
SERVER_BIN=${SERVER_BIN:-}
if ! command -v wrk >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
if [ -z "$SERVER_BIN" ]; then
  cargo build --release -p todo-jwt 2>&1 | tail -n 1
  SERVER_BIN=target/release/todo-jwt
fi
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
DATABASE_URL=
if [ "${BACKEND:-sqlite}" = postgres ]; then
  admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  db=todo_jwt_refresh_$$
  psql "$admin" -qc "CREATE DATABASE $db"
  DATABASE_URL=${admin%/*}/$db
  trap 'cleanup; psql "$admin" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
fi
export TODO_JWT_SECRET
TODO_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
base=http://127.0.0.1:$PORT

measure() { # NAME ROTATION
  rm -rf "$work/data"
  env RUST_LOG=error TODO_JWT_PORT=$PORT TODO_JWT_DATA_DIR="$work/data" TODO_JWT_REFRESH_ROTATION="$2" \
    TODO_JWT_AUTH_RATE_LIMIT=0 \
    ${DATABASE_URL:+TODO_JWT_DATABASE_URL=$DATABASE_URL} "$SERVER_BIN" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -s -o /dev/null "$base/" && break; sleep 0.1; done
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
  kill "$server"; wait "$server" 2>/dev/null || true; server=
}
echo "server: $SERVER_BIN; backend: ${BACKEND:-sqlite}; wrk -t2 -c32 -d${DURATION}s"
measure "POST /refresh, LoopBack mode (no rotation)" false
measure "POST /refresh, rotation on, a spent token within the interval" true

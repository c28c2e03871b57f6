#!/usr/bin/env bash
# Memory after a login burst (release binary, fresh SQLite data): RSS fresh (started, idle), the
# peak while 32 connections log in for DURATION seconds, then once a second for 30 s after the
# last login. Prints the three figures and when RSS came back within 10 MiB of fresh. Rate
# limits and load shedding are off, so every login is hashed.
#
#   bash bench/login_memory.sh        # SERVER_BIN=… for another build; DURATION=5
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
PORT=${PORT:-3352}
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
export TODO_JWT_SECRET
TODO_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
base=http://127.0.0.1:$PORT
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }

env RUST_LOG=error TODO_JWT_PORT=$PORT TODO_JWT_DATA_DIR="$work/data" TODO_JWT_AUTH_RATE_LIMIT=0 \
  TODO_JWT_LOGIN_MAX_FAILURES=0 TODO_JWT_MAX_HASH_WAIT_MS=0 "$SERVER_BIN" >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -s -o /dev/null "$base/" && break; sleep 0.1; done
sleep 1
fresh=$(rss)
curl -sf "$base/signup" -H 'Content-Type: application/json' \
  -d '{"email":"reader@example.com","password":"benchmark-password"}' >/dev/null
cat >"$work/login.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"email":"reader@example.com","password":"benchmark-password"}'
wrk.headers["Content-Type"] = "application/json"
LUA
wrk -t1 -c32 -d"${DURATION}s" -s "$work/login.lua" "$base/users/login" >"$work/flood.txt" &
flood=$!
peak=$fresh
while kill -0 "$flood" 2>/dev/null; do
  now=$(rss)
  peak=$(python3 -c "print(max($peak, $now))")
  sleep 0.2
done
logins=$(awk '/requests in/ {print $1}' "$work/flood.txt")
settled_at=
samples=
for second in $(seq 30); do
  sleep 1
  now=$(rss)
  samples="$samples $now"
  if [ -z "$settled_at" ] && python3 -c "import sys; sys.exit(0 if $now <= $fresh + 10 else 1)"; then
    settled_at=$second
  fi
done
echo "server: $SERVER_BIN; $logins logins by 32 connections in ${DURATION}s"
echo "RSS MiB: fresh $fresh, peak $peak, after 30 s $now"
echo "within 10 MiB of fresh after: ${settled_at:-never (in 30 s)} s; samples:$samples"

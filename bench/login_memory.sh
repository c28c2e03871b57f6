#!/usr/bin/env bash
# Memory after a login burst (release binary, fresh SQLite data): RSS fresh (started, idle), the
# peak while 32 connections log in for DURATION seconds, then once a second for 30 s after the
# last login. Prints the three figures and when RSS came back within 10 MiB of fresh. Rate
# limits and load shedding are off, so every login is hashed.
#
#   bash bench/login_memory.sh        # SERVER_BIN=… for another build; DURATION=5
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
DURATION=${DURATION:-5}
PORT=${PORT:-3352}
need_package wrk
release_server
random_secret
base=http://127.0.0.1:$PORT
rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }

env RUST_LOG=error TODO_JWT_PORT="$PORT" TODO_JWT_DATA_DIR="$work/data" TODO_JWT_AUTH_RATE_LIMIT=0 \
  TODO_JWT_LOGIN_MAX_FAILURES=0 TODO_JWT_MAX_HASH_WAIT_MS=0 "$SERVER_BIN" >"$work/server.log" 2>&1 &
server=$!
bench_pids+=("$server")
wait_until_up "$base/"
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

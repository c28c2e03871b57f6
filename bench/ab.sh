#!/usr/bin/env bash
# A paired comparison of GET /todos between two configurations (or builds) of the server:
# both start on fresh data with one user and 20 todos, then wrk measures A and B alternately,
# PAIRS times, and the median of the pairs' B/A ratios is printed (steadier than one run on a
# noisy machine).
#
#   A_ENV="TODO_JWT_METRICS=false" B_ENV="" bash bench/ab.sh     # what metrics cost
#   A_BIN=/tmp/old/todo-jwt B_BIN=target/release/todo-jwt bash bench/ab.sh
#   PAIRS=7 DURATION=5 CONNECTIONS=32 bash bench/ab.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
PAIRS=${PAIRS:-5}
DURATION=${DURATION:-4}
CONNECTIONS=${CONNECTIONS:-32}
A_ENV=${A_ENV:-}
B_ENV=${B_ENV:-}
need_package wrk
release_bins A_BIN=todo-jwt B_BIN=todo-jwt
random_secret

start() { # NAME BIN ENV PORT -> seeds a reader, writes its token to $work/NAME.token
  local name=$1 bin=$2 settings=$3 port=$4 base=http://127.0.0.1:$4
  # shellcheck disable=SC2086 # the settings are words
  env RUST_LOG=warn TODO_JWT_PORT="$port" TODO_JWT_DATA_DIR="$work/$name" TODO_JWT_AUTH_RATE_LIMIT=0 \
    $settings "$bin" >"$work/$name.log" 2>&1 &
  bench_pids+=($!)
  wait_until_up "$base/healthz"
  curl -sf "$base/signup" -H 'Content-Type: application/json' \
    -d '{"email":"reader@example.com","password":"benchmark-password"}' >/dev/null
  curl -sf "$base/users/login" -H 'Content-Type: application/json' \
    -d '{"email":"reader@example.com","password":"benchmark-password"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])' >"$work/$name.token"
  for i in $(seq 20); do
    curl -sf "$base/todos" -H "Authorization: Bearer $(cat "$work/$name.token")" \
      -H 'Content-Type: application/json' -d "{\"title\":\"todo $i\"}" >/dev/null
  done
}
measure() { # NAME PORT -> requests/s
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $(cat "$work/$1.token")" \
    "http://127.0.0.1:$2/todos" | awk '/Requests\/sec/ {print $2}'
}
start a "$A_BIN" "$A_ENV" 3381
start b "$B_BIN" "$B_ENV" 3382
measure a 3381 >/dev/null # warm-up
measure b 3382 >/dev/null
: >"$work/pairs"
for pair in $(seq "$PAIRS"); do
  echo "$pair $(measure a 3381) $(measure b 3382)" >>"$work/pairs"
done
echo "A: $A_BIN ${A_ENV:-(defaults)}; B: $B_BIN ${B_ENV:-(defaults)}; wrk -t2 -c$CONNECTIONS -d${DURATION}s GET /todos"
python3 - "$work/pairs" <<'PY'
import statistics, sys
ratios = []
for line in open(sys.argv[1]):
    pair, a, b = line.split()
    ratios.append(float(b) / float(a))
    print(f"pair {pair}: A {float(a):9.0f} req/s, B {float(b):9.0f} req/s, B/A {float(b) / float(a):.3f}")
print(f"median B/A over {len(ratios)} pairs: {statistics.median(ratios):.3f}")
PY

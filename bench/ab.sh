#!/usr/bin/env bash
# A paired comparison of GET /todos between two configurations (or builds) of the server:
# both start on fresh data with one user and 20 todos, then wrk measures A and B alternately,
# PAIRS times, and the median of the pairs' B/A ratios is printed (steadier than one run on a
# noisy machine): of throughput, and of the server's CPU time per request (user + system, from
# /proc; less disturbed by what else the machine runs, since it counts only the server's time).
#
#   A_ENV="TODO_JWT_METRICS=false" B_ENV="" bash bench/ab.sh     # what metrics cost
#   A_BIN=/tmp/old/todo-jwt B_BIN=target/release/todo-jwt bash bench/ab.sh
#   PAIRS=7 DURATION=5 CONNECTIONS=32 bash bench/ab.sh
#   WRITE=1 A_BIN=... B_BIN=... bash bench/ab.sh                   # POST /todos instead
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
    TODO_JWT_MAX_TODOS_PER_USER=1000000000 \
    $settings "$bin" >"$work/$name.log" 2>&1 &
  bench_pids+=($!)
  echo $! >"$work/$name.pid"
  wait_until_up "$base/healthz"
  signed_up_token "$base" reader@example.com >"$work/$name.token"
  for i in $(seq 20); do
    curl -sf "$base/todos" -H "Authorization: Bearer $(cat "$work/$name.token")" \
      -H 'Content-Type: application/json' -d "{\"title\":\"todo $i\"}" >/dev/null
  done
}
cpu_ticks() { # NAME -> the server's user + system time so far, in clock ticks
  awk '{print $14 + $15}' "/proc/$(cat "$work/$1.pid")/stat"
}
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"benchmark todo","desc":"written by wrk","isComplete":false}'
wrk.headers["Content-Type"] = "application/json"
LUA
script=()
if [ "${WRITE:-0}" = 1 ]; then
  script=(-s "$work/post.lua")
fi
measure() { # NAME PORT -> "requests/s CPU-microseconds-per-request"
  local before after output
  before=$(cpu_ticks "$1")
  output=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "${script[@]}" \
    -H "Authorization: Bearer $(cat "$work/$1.token")" "http://127.0.0.1:$2/todos")
  after=$(cpu_ticks "$1")
  echo "$output" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {requests = $1} /Requests\/sec/ {rate = $2}
    END {printf "%s %.2f\n", rate, ticks / hz * 1e6 / requests}'
}
start a "$A_BIN" "$A_ENV" 3381
start b "$B_BIN" "$B_ENV" 3382
measure a 3381 >/dev/null # warm-up
measure b 3382 >/dev/null
: >"$work/pairs"
# The order alternates (A then B, then B then A, ...), with a pause between runs: a server
# measured second ran while the first was still closing its connections, and identical
# binaries measured A-then-B always gave B/A of about 0.96.
for pair in $(seq "$PAIRS"); do
  if [ $((pair % 2)) = 1 ]; then
    a=$(measure a 3381); sleep 1; b=$(measure b 3382)
  else
    b=$(measure b 3382); sleep 1; a=$(measure a 3381)
  fi # each: requests/s and CPU microseconds per request
  echo "$pair $a $b" >>"$work/pairs"
  sleep 1
done
echo "A: $A_BIN ${A_ENV:-(defaults)}; B: $B_BIN ${B_ENV:-(defaults)}; wrk -t2 -c$CONNECTIONS -d${DURATION}s $([ "${WRITE:-0}" = 1 ] && echo POST || echo GET) /todos"
python3 - "$work/pairs" <<'PY'
import statistics, sys
ratios, cpu = [], []
for line in open(sys.argv[1]):
    pair, a, a_cpu, b, b_cpu = line.split()
    ratios.append(float(b) / float(a))
    cpu.append(float(a_cpu) / float(b_cpu))
    print(f"pair {pair}: A {float(a):9.0f} req/s {float(a_cpu):6.2f} us CPU/req, "
          f"B {float(b):9.0f} req/s {float(b_cpu):6.2f} us CPU/req, B/A {ratios[-1]:.3f}, "
          f"CPU A/B {cpu[-1]:.3f}")
print(f"median B/A over {len(ratios)} pairs: {statistics.median(ratios):.3f} (throughput), "
      f"{statistics.median(cpu):.3f} (CPU per request, A/B: above 1 when B costs less)")
PY

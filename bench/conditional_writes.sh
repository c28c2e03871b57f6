#!/usr/bin/env bash
# What If-Match costs a write: PATCH /todos/{id} with the current tag (each response's ETag is
# the next request's If-Match) against the same PATCH without one, alternately, PAIRS times,
# on one server (release, fresh data, SQLite unless DATABASE_URL is set). One connection per
# wrk thread, each on a todo of its own, so conditional writes never race each other (a 412
# would be a cheaper request). Prints the median of the pairs' ratios (conditional /
# unconditional) of requests/s and of the server's CPU time per request.
#
#   bash bench/conditional_writes.sh
#   PAIRS=7 DURATION=5 SERVER_BIN=/tmp/new/todo-jwt bash bench/conditional_writes.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
PAIRS=${PAIRS:-5}
DURATION=${DURATION:-4}
PORT=${PORT:-3391}
need_package wrk
release_server
random_secret
base=http://127.0.0.1:$PORT

env RUST_LOG="${RUST_LOG:-info}" TODO_JWT_PORT="$PORT" TODO_JWT_DATA_DIR="$work/data" \
  TODO_JWT_AUTH_RATE_LIMIT=0 ${DATABASE_URL:+TODO_JWT_DATABASE_URL=$DATABASE_URL} \
  "$SERVER_BIN" >"$work/server.log" 2>&1 &
server=$!
bench_pids+=("$server")
wait_until_up "$base/healthz"
token=$(signed_up_token "$base" writer@example.com)
ids=()
for i in 1 2; do
  ids+=("$(curl -sf "$base/todos" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d "{\"title\":\"todo $i\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')")
done

# Each wrk thread (one connection) patches its own todo; with CONDITIONAL it sends the tag the
# previous response gave (the first from a GET).
cat >"$work/patch.lua" <<LUA
local ids = {${ids[0]}, ${ids[1]}}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", ids[threads])
end
function init(args)
  path = "/todos/" .. id
  tag = nil
  conditional = os.getenv("CONDITIONAL") == "1"
end
function request()
  local headers = {["Authorization"] = "Bearer $token", ["Content-Type"] = "application/json"}
  if conditional then
    if tag == nil then
      return wrk.format("GET", path, headers)
    end
    headers["If-Match"] = tag
  end
  return wrk.format("PATCH", path, headers, '{"title":"patched by wrk"}')
end
function response(status, headers, body)
  tag = headers["ETag"] or headers["etag"]
  if status >= 300 then
    failed = (failed or 0) + 1
  end
end
LUA

cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
measure() { # CONDITIONAL -> "requests/s CPU-microseconds-per-request non-2xx"
  local before after output
  before=$(cpu_ticks)
  output=$(CONDITIONAL=$1 wrk -t2 -c2 -d"${DURATION}s" -s "$work/patch.lua" "$base/")
  after=$(cpu_ticks)
  echo "$output" | awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {requests = $1} /Requests\/sec/ {rate = $2} /Non-2xx/ {bad = $5}
    END {printf "%s %.2f %d\n", rate, ticks / hz * 1e6 / requests, bad}'
}
measure 0 >/dev/null # warm-up
measure 1 >/dev/null
: >"$work/pairs"
for pair in $(seq "$PAIRS"); do
  if [ $((pair % 2)) = 1 ]; then
    u=$(measure 0); sleep 1; c=$(measure 1)
  else
    c=$(measure 1); sleep 1; u=$(measure 0)
  fi
  echo "$pair $u $c" >>"$work/pairs"
  sleep 1
done
python3 - "$work/pairs" <<'PY'
import statistics, sys
rates, cpus = [], []
for line in open(sys.argv[1]):
    pair, u_rate, u_cpu, u_bad, c_rate, c_cpu, c_bad = line.split()
    rates.append(float(c_rate) / float(u_rate))
    cpus.append(float(c_cpu) / float(u_cpu))
    print(f"pair {pair}: unconditional {float(u_rate):8.0f} req/s {float(u_cpu):7.1f} us CPU "
          f"(non-2xx {u_bad}); conditional {float(c_rate):8.0f} req/s {float(c_cpu):7.1f} us CPU "
          f"(non-2xx {c_bad})")
print(f"median conditional / unconditional over {len(rates)} pairs: requests/s "
      f"{statistics.median(rates):.3f}, CPU per request {statistics.median(cpus):.3f}")
PY
backend=sqlite
[ -z "${DATABASE_URL:-}" ] || backend=postgres
echo "server: $SERVER_BIN; backend: $backend; wrk -t2 -c2 -d${DURATION}s per run"

#!/usr/bin/env bash
# The read-path benchmark: todo-jwt (release, fresh data directory, one user with 20 todos)
# against the ceiling binary (same HTTP stack and JWT check, fixed body), in one run.
#
#   bash bench/run.sh                 # SQLite (the default)
#   DURATION=5 bash bench/run.sh      # shorter runs
#   BIG=0 bash bench/run.sh           # skip the 100,000-todo run
#   PAIRED=5 bash bench/run.sh        # also: ceiling and GET /todos alternately, 5 pairs, and
#                                     # the median of the pairs' ratios (steadier on a noisy box)
#   BACKEND=postgres bash bench/run.sh  # on PostgreSQL (a fresh database on the server at
#                                       # PG_ADMIN_URL, default postgres://postgres@127.0.0.1:5432/postgres)
#   BACKEND=pgbouncer bash bench/run.sh # the same through PgBouncer in transaction mode
#   SERVER_BIN=/tmp/old/todo-jwt CEILING_BIN=/tmp/old/ceiling bash bench/run.sh
#                                     # other binaries (an earlier build, to compare against);
#                                     # only the one not given is built, nothing when both are
#
# Prints, per endpoint: requests/s, p50, p99, the server's resident memory during the run, the
# ratio to the ceiling's GET /todos (measured first and last; the higher counts), the server's
# CPU time per request (user + system, microseconds), and on PostgreSQL the statements it sent
# per request (its `database_statements_total`; each a round trip). The server logs at `info`
# (its default: a line per request) unless RUST_LOG says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh

DURATION=${DURATION:-10}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
BIG=${BIG:-1}
APP_PORT=${APP_PORT:-3301}
CEILING_PORT=${CEILING_PORT:-3302}

need_package wrk
release_bins SERVER_BIN=todo-jwt CEILING_BIN=ceiling
postgres_database "todo_jwt_bench_$$"
random_secret
app=http://127.0.0.1:$APP_PORT
ceiling=http://127.0.0.1:$CEILING_PORT

# POST /todos measures a user accumulating todos: no per-user limit gets in the way.
start_app() {
  env RUST_LOG="${RUST_LOG:-info}" TODO_JWT_PORT="$APP_PORT" TODO_JWT_DATA_DIR="$work/data" \
    TODO_JWT_MAX_TODOS_PER_USER=1000000000 \
    ${DATABASE_URL:+TODO_JWT_DATABASE_URL=$DATABASE_URL} "$SERVER_BIN" >>"$work/app.log" 2>&1 &
  app_pid=$!
  bench_pids+=("$app_pid")
}
start_app
wait_until_up "$app/"
# The ceiling checks tokens with the server's keys: the secret (HS256) and, when the server
# signs EdDSA, the public key its JWK Set publishes.
CEILING_JWKS=$(curl -sf "$app/.well-known/jwks.json") "$CEILING_BIN" "$CEILING_PORT" \
  >"$work/ceiling.log" 2>&1 &
ceiling_pid=$!
bench_pids+=("$ceiling_pid")
wait_until_up "$ceiling/todos"

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token_for() {
  curl -sf "$app/signup" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"benchmark-password\"}" >/dev/null
  curl -sf "$app/users/login" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"benchmark-password\"}" | json '["token"]'
}

reader=$(token_for reader@example.com)
writer=$(token_for writer@example.com)
for i in $(seq 20); do
  curl -sf "$app/todos" -H "Authorization: Bearer $reader" -H 'Content-Type: application/json' \
    -d "{\"title\":\"todo number $i\",\"desc\":\"something to do\",\"isComplete\":$([ $((i % 2)) = 0 ] && echo true || echo false)}" >/dev/null
done
one_id=$(curl -sf "$app/todos?filter%5Blimit%5D=1" -H "Authorization: Bearer $reader" | json '[0]["id"]')
# The list's entity tag: GET /todos revalidated with it is a 304 (no body).
list_tag=$(curl -sfi "$app/todos" -H "Authorization: Bearer $reader" |
  awk 'tolower($1) == "etag:" {print $2}' | tr -d '\r')

cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"title":"benchmark todo","desc":"written by wrk","isComplete":false}'
wrk.headers["Content-Type"] = "application/json"
LUA

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Statements the server has sent to PostgreSQL so far (its metrics; 0 on SQLite).
statements() {
  { curl -sf "$app/metrics" || true; } | awk '$1 == "database_statements_total" {n = $2} END {print n + 0}'
}

# run NAME PID URL TOKEN [wrk args...] -> one table row in $work/rows
run() {
  local name=$1 pid=$2 url=$3 token=$4
  shift 4
  local out=$work/wrk.txt
  (sleep "$((DURATION / 2))"; rss_kib "$pid" >"$work/rss") &
  local sampler=$!
  local ticks_before statements_before
  ticks_before=$(cpu_ticks "$pid")
  statements_before=$(statements)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $token" "$@" "$url" >"$out"
  wait "$sampler"
  local rps p50 p99 errors requests cpu per
  rps=$(awk '/Requests\/sec/ {print $2}' "$out")
  p50=$(awk '$1 == "50%" {print $2}' "$out")
  p99=$(awk '$1 == "99%" {print $2}' "$out")
  errors=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print "socket:" $0}' "$out" | tr '\n' ' ')
  requests=$(awk '/requests in/ {print $1}' "$out")
  # The server's CPU time (user + system) and its PostgreSQL statements, per request.
  cpu=$(awk -v t=$(( $(cpu_ticks "$pid") - ticks_before )) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
    'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  per=$(awk -v s=$(( $(statements) - statements_before )) -v n="$requests" 'BEGIN {printf "%.3f", s / n}')
  echo "$name|$rps|$p50|$p99|$(( $(cat "$work/rss") / 1024 ))|$cpu|$per|${errors:-0}" >>"$work/rows"
}

: >"$work/rows"
echo "idle resident memory: todo-jwt $(( $(rss_kib "$app_pid") / 1024 )) MiB, ceiling $(( $(rss_kib "$ceiling_pid") / 1024 )) MiB"
run "ceiling GET /todos (fixed body)" "$ceiling_pid" "$ceiling/todos" "$reader"
run "GET /todos (20 todos)" "$app_pid" "$app/todos" "$reader"
if [ -n "$list_tag" ]; then
  run "GET /todos, If-None-Match (304)" "$app_pid" "$app/todos" "$reader" -H "If-None-Match: $list_tag"
fi
run "GET /todos/{id}" "$app_pid" "$app/todos/$one_id" "$reader"
run "GET /whoAmI" "$app_pid" "$app/whoAmI" "$reader"
run "POST /todos" "$app_pid" "$app/todos" "$writer" -s "$work/post.lua"

if [ "$BIG" = 1 ]; then
  # A user with 100,000 todos, written straight into the database (the API would take minutes).
  big=$(token_for big@example.com)
  big_id=$(curl -sf "$app/whoAmI" -H "Authorization: Bearer $big")
  if [ -z "${DATABASE_URL:-}" ]; then
    # The server owns its SQLite file while it runs: stop it, write, start it again (same
    # secret, so the tokens stay valid).
    stop_server "$app_pid"
    python3 - "$work/data/todo-jwt.sqlite3" "$big_id" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
db.executemany(
    "INSERT INTO todos (owner_id, title, description, is_complete) VALUES (?, ?, ?, ?)",
    ((sys.argv[2], f"todo number {i}", "something to do", i % 2) for i in range(100_000)),
)
db.commit()
PY
    start_app
    wait_until_up "$app/"
  else
    psql "$DIRECT_DATABASE_URL" -qc "INSERT INTO todos (owner_id, title, description, is_complete)
      SELECT '$big_id', 'todo number ' || i, 'something to do', i % 2 = 0 FROM generate_series(1, 100000) i"
  fi
  limit='filter=%7B%22limit%22%3A20%7D'
  run "GET /todos?filter={limit:20}, 20 todos" "$app_pid" "$app/todos?$limit" "$reader"
  run "GET /todos?filter={limit:20}, 100k todos" "$app_pid" "$app/todos?$limit" "$big"
fi

# The ceiling again at the end: on a shared machine one run can be unlucky, and the higher of
# the two keeps every ratio conservative.
run "ceiling GET /todos (again)" "$ceiling_pid" "$ceiling/todos" "$reader"
ceiling_rps=$(grep '^ceiling' "$work/rows" | cut -d'|' -f2 | sort -g | tail -n 1)

if [ "${PAIRED:-0}" -gt 0 ]; then
  : >"$work/pairs"
  for pair in $(seq "$PAIRED"); do
    : >"$work/rows.pair"
    mv "$work/rows" "$work/rows.main"
    run ceiling "$ceiling_pid" "$ceiling/todos" "$reader"
    run todos "$app_pid" "$app/todos" "$reader"
    if [ -n "$list_tag" ]; then
      run revalidated "$app_pid" "$app/todos" "$reader" -H "If-None-Match: $list_tag"
    fi
    mv "$work/rows" "$work/rows.pair"
    mv "$work/rows.main" "$work/rows"
    c=$(grep '^ceiling' "$work/rows.pair" | cut -d'|' -f2)
    t=$(grep '^todos' "$work/rows.pair" | cut -d'|' -f2)
    r=$(grep '^revalidated' "$work/rows.pair" | cut -d'|' -f2 || true)
    echo "$pair $c $t ${r:-0}" >>"$work/pairs"
  done
fi
printf '\n%-42s %10s %9s %9s %8s %8s %8s %8s  %s\n' endpoint "req/s" p50 p99 "RSS MiB" "ceiling" "CPU us" "PG st." "errors"
while IFS='|' read -r name rps p50 p99 rss cpu per errors; do
  ratio=$(python3 -c "print(f'{$rps / $ceiling_rps:.0%}')")
  printf '%-42s %10s %9s %9s %8s %8s %8s %8s  %s\n' "$name" "$rps" "$p50" "$p99" "$rss" "$ratio" "$cpu" "$per" "$errors"
done <"$work/rows"
if [ "${PAIRED:-0}" -gt 0 ]; then
  echo
  python3 - "$work/pairs" <<'PY'
import statistics, sys
pairs = [line.split() for line in open(sys.argv[1])]
ratios, revalidations = [], []
for pair, ceiling, todos, revalidated in pairs:
    ratio = float(todos) / float(ceiling)
    ratios.append(ratio)
    line = f"pair {pair}: ceiling {float(ceiling):10.0f} req/s, GET /todos {float(todos):10.0f} req/s, ratio {ratio:.0%}"
    if float(revalidated) > 0:
        revalidations.append(float(revalidated) / float(ceiling))
        line += f"; 304 {float(revalidated):10.0f} req/s, ratio {revalidations[-1]:.0%}"
    print(line)
print(f"median ratio GET /todos / ceiling over {len(ratios)} pairs: {statistics.median(ratios):.0%}")
if revalidations:
    print(f"median ratio GET /todos 304 / ceiling over {len(revalidations)} pairs: {statistics.median(revalidations):.0%}")
PY
fi
echo
echo "backend: ${BACKEND:-sqlite}; server: $SERVER_BIN; ceiling: $CEILING_BIN; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; ceiling = the ceiling binary's GET /todos in this run"

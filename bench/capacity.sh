#!/usr/bin/env bash
# The measurements behind the README's capacity model (issue 25): what one request of each kind
# costs the instance and the database, on a PostgreSQL 15 of the script's own.
#
#   SERVER_BIN=/tmp/cap/todo-jwt bash bench/capacity.sh   # a release binary (built when not given)
#   STATEMENTS=1 bash bench/capacity.sh     # also: each kind's costliest statements (pg_stat_statements)
#   LIST_CACHE_MB=32 bash bench/capacity.sh # with the list cache (the service's default)
#   USERS=800 bash bench/capacity.sh        # more users (and logins, and paced requests)
#
# It starts, on loopback only, and stops at exit:
# - PostgreSQL (PG_BIN, default the newest under /usr/lib/postgresql): initdb into $work, a free
#   port, its defaults otherwise (fsync and synchronous_commit on: commit latency is part of
#   the model), pg_stat_statements loaded (to count round trips); run as the postgres user when
#   the script runs as root;
# - one todo-jwt on it at RUST_LOG=info (a log line per request), every rate limit lifted (per
#   address, per account, refusal pacing) and password checks never shed, so that no request is
#   refused; the list cache off (LIST_CACHE_MB=0: every GET /todos reads its rows, what a cache
#   miss costs; the default keeps 32 MiB of lists, which can only lower that figure);
# - then, for the credential routes, a second todo-jwt with the limits on (their defaults), as
#   in production: each request comes through a trusted proxy (loopback) from an address of its
#   own (X-Forwarded-For), so none is refused, and the counters are written as for real clients.
#
# Users capacity-1..USERS (and one more), each with 20 todos and EVENTS events in its history
# (1,000: the per-account cap, TODO_JWT_MAX_EVENTS_PER_ACCOUNT, which each new event trims to),
# are written straight into the database (one signup's argon2 hash copied: the set-up hashes
# only for the logins it measures). Each kind is driven by wrk (bench/capacity.lua: a fixed
# number of requests, each thread stopping at its share):
#   ..., one session        one user's token over and over: its session is checked against the
#                           database once a second, the other requests are answered from memory
#   POST /users/login       each user once (the tokens are kept for what follows)
#   ..., fresh session      those tokens in turn, paced so that each comes back after more than
#                           a second: every request checks its session in the database
#   POST /todos, N users    those tokens in turn, at full speed (where writes saturate)
#   POST /users/refresh-login   each user once (the sessions are refreshed next)
#   POST /refresh, N sessions   those sessions in turn on REFRESHERS (16) connections, each
#                           request spending the token its session's previous answer gave
#   POST /refresh, one session  one session alone, one refresh after the other
# and prints per kind: requests, requests/s, p50; the instance's CPU time per request (utime +
# stime of its process); its database statements per request (its `database_statements_total`);
# round trips per request (every statement pg_stat_statements saw, BEGIN, COMMIT and `SET LOCAL`
# included, the `SELECT 1` sent with each COMMIT excepted); PostgreSQL's CPU time per request
# (the postmaster, its children, and the children that ended meanwhile); commits per request
# (transaction ids assigned, i.e. transactions that wrote, each a WAL flush; pg_stat_database's
# xact_commit is not used: backends report it up to 10 s late, and it counts read-only
# transactions too); WAL bytes per request; the cores the instance and PostgreSQL kept busy; and
# the answers outside 2xx (which must be 0). Then what this machine's PostgreSQL commits alone
# (pgbench, a one-row UPDATE a transaction, 1 and 16 clients, 3 s each). wrk runs on the same
# cores: requests/s is what the whole machine does; the per-request figures are each process's.
# About 80 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh

USERS=${USERS:-400}
REFRESHERS=${REFRESHERS:-16}
WHOAMI=${WHOAMI:-40000}
LISTS=${LISTS:-20000}
WRITES=${WRITES:-6000}
REFRESHES=${REFRESHES:-8000}
SOLO_REFRESHES=${SOLO_REFRESHES:-400}
EVENTS=${EVENTS:-1000}
LIST_CACHE_MB=${LIST_CACHE_MB:-0}
STATEMENTS=${STATEMENTS:-0}
PG_BIN=${PG_BIN:-$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
need_package wrk
release_server
random_secret

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# PostgreSQL. It refuses to run as root: as root, its commands run as the postgres user
# (setpriv execs them, so the server's pid is the one `&` gives). A child of this script,
# registered like a server: common.sh's exit trap stops it (SIGTERM, then waits for it) before
# it removes $work, where its data directory is (a command registered with on_exit would run
# after that).
as_postgres=()
mkdir "$work/pg"
if [ "$(id -u)" = 0 ]; then
  as_postgres=(setpriv --reuid=postgres --regid=postgres --init-groups --)
  chmod 711 "$work"
  chown postgres: "$work/pg"
fi
pgdata=$work/pg/data
"${as_postgres[@]}" "$PG_BIN/initdb" -D "$pgdata" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$work/initdb.log" 2>&1
pg_port=$(free_port)
"${as_postgres[@]}" "$PG_BIN/postgres" -D "$pgdata" -p "$pg_port" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories= -c shared_preload_libraries=pg_stat_statements \
  >"$work/postgres.log" 2>&1 &
pg_pid=$!
bench_pids+=("$pg_pid")
pg_url=postgres://postgres@127.0.0.1:$pg_port
for _ in $(seq 100); do
  psql "$pg_url/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1 && break
  sleep 0.1
done
if [ "$(head -n 1 "$pgdata/postmaster.pid" 2>/dev/null)" != "$pg_pid" ]; then
  echo "PostgreSQL did not start as pid $pg_pid:" >&2
  cat "$work/postgres.log" >&2
  exit 1
fi
psql "$pg_url/postgres" -qc 'CREATE EXTENSION pg_stat_statements' -c 'CREATE DATABASE capacity'
# One session for every sample: a connection per sample would cost PostgreSQL a backend's start
# each time, inside the measurement. Line-buffered (psql buffers what it writes to a pipe), and
# exec'd, so that the coprocess' pid is psql's.
coproc PSQL { exec stdbuf -oL "$PG_BIN/psql" "$pg_url/postgres" -X -qAt 2>&1; }
bench_pids+=("$PSQL_PID")
sql() { # QUERY (one, ending in ;) -> its one line of output. Not in a pipeline: the
  # coprocess' descriptors are not there.
  echo "$1" >&"${PSQL[1]}"
  local line
  IFS= read -r -t 10 line <&"${PSQL[0]}"
  echo "$line"
}

# start_app NAME [VAR=VALUE...]: a todo-jwt on the database; sets app (its URL) and app_pid.
start_app() {
  local name=$1 port
  shift
  port=$(free_port)
  app=http://127.0.0.1:$port
  env RUST_LOG="${RUST_LOG:-info}" TODO_JWT_PORT="$port" TODO_JWT_DATA_DIR="$work/$name" \
    TODO_JWT_DATABASE_URL="$pg_url/capacity" TODO_JWT_MAX_HASH_WAIT_MS=0 \
    TODO_JWT_LIST_CACHE_MB="$LIST_CACHE_MB" TODO_JWT_DRAIN_PERIOD=0 "$@" \
    "$SERVER_BIN" >>"$work/$name.log" 2>&1 &
  app_pid=$!
  bench_pids+=("$app_pid")
  wait_until_up "$app/healthz"
}
start_app lifted TODO_JWT_AUTH_RATE_LIMIT=0 TODO_JWT_LOGIN_MAX_FAILURES=0 TODO_JWT_REFUSALS_PER_SECOND=0

# The users, their todos and audit events, and the session refreshed alone.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
login() { # EMAIL [PATH] -> the answer
  curl -sf "$app${2:-/users/login}" -H 'Content-Type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"capacity-password\"}"
}
curl -sf "$app/signup" -H 'Content-Type: application/json' \
  -d '{"email":"capacity-0@example.com","password":"capacity-password"}' >/dev/null
psql "$pg_url/capacity" -q <<SQL
INSERT INTO users (id, email, email_key, password_hash)
  SELECT gen_random_uuid()::text, 'capacity-' || i || '@example.com', 'capacity-' || i || '@example.com',
    (SELECT password_hash FROM users WHERE email_key = 'capacity-0@example.com')
  FROM generate_series(1, $((USERS + 1))) i;
INSERT INTO todos (owner_id, title, description, is_complete)
  SELECT id, 'todo number ' || n, 'something to do', n % 2 = 0 FROM users, generate_series(1, 20) n;
INSERT INTO audit_events (at, event, user_id, email, ip, user_agent)
  SELECT extract(epoch FROM now())::bigint - 60 * n, 'login', id, email, '192.0.2.1', 'capacity'
  FROM users, generate_series(1, $EVENTS) n;
VACUUM ANALYZE;
SQL
login capacity-0@example.com | json '["token"]' >"$work/reader"
# The session refreshed alone.
login "capacity-$((USERS + 1))@example.com" /users/refresh-login | json '["refreshToken"]' >"$work/solo"
argon2=$(psql "$pg_url/capacity" -qAtc \
  "SELECT split_part(password_hash, '\$', 2) || ' ' || split_part(password_hash, '\$', 3) || ' ' ||
     split_part(password_hash, '\$', 4) FROM users WHERE email_key = 'capacity-0@example.com'")

# Samples.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# PostgreSQL's processes: the postmaster (with its children that ended: cutime + cstime) and its
# children now.
pg_ticks() {
  {
    awk '{print $14 + $15 + $16 + $17}' "/proc/$pg_pid/stat"
    local child
    for child in $(ps --ppid "$pg_pid" -o pid=); do
      awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || true
    done
  } | awk '{s += $1} END {print s}'
}
statements() {
  curl -sf "$app/metrics" | awk '$1 == "database_statements_total" {n = $2} END {print n + 0}'
}
# The next transaction id (ids go to transactions that write), the WAL position, and the
# service database's statements and COMMITs so far (pg_stat_statements).
pg_counters() {
  local line
  line=$(sql "SELECT pg_snapshot_xmax(pg_current_snapshot()), pg_current_wal_lsn(),
    coalesce(sum(calls), 0), coalesce(sum(calls) FILTER (WHERE query = 'COMMIT'), 0)
    FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'capacity';")
  echo "${line//|/ }"
}
hz=$(getconf CLK_TCK)
begin_sample() {
  sql "SELECT pg_stat_statements_reset();" >/dev/null
  before_statements=$(statements)
  read -r before_xid before_lsn before_calls before_commits <<<"$(pg_counters)"
  before_app=$(cpu_ticks "$app_pid")
  before_pg=$(pg_ticks)
}
# end_sample NAME REQUESTS DURATION_US P50_US NON2XX -> a row in $work/rows
end_sample() {
  local app_ticks pg xid lsn calls commits wal statements
  app_ticks=$(($(cpu_ticks "$app_pid") - before_app))
  pg=$(($(pg_ticks) - before_pg))
  read -r xid lsn calls commits <<<"$(pg_counters)"
  wal=$(sql "SELECT pg_wal_lsn_diff('$lsn', '$before_lsn');")
  statements=$(($(statements) - before_statements))
  local trips=$((calls - before_calls - (commits - before_commits)))
  echo "$1|$2|$3|$4|$app_ticks|$pg|$statements|$trips|$((xid - before_xid))|$wal|$5" >>"$work/rows"
  if [ "$STATEMENTS" = 1 ] && [ "$2" -gt 0 ]; then
    local top
    top=$(sql "SELECT string_agg(format('  %s %s %s', round(calls::numeric / $2, 2),
        round((total_exec_time / calls)::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 110)),
        E'\x1f' ORDER BY total_exec_time DESC) FROM (SELECT * FROM pg_stat_statements s JOIN pg_database d
        ON d.oid = s.dbid WHERE d.datname = 'capacity' ORDER BY total_exec_time DESC LIMIT 6) top;")
    {
      echo "$1: calls a request, ms a call, statement (the 6 with the most time)"
      tr '\037' '\n' <<<"$top"
    } >>"$work/statements"
  fi
}

# measure NAME THREADS CONNECTIONS REQUESTS PATH [VAR=VALUE...]: wrk with bench/capacity.lua
# (REQUESTS / THREADS answers a thread; the variables configure it), and a row.
measure() {
  local name=$1 threads=$2 connections=$3 requests=$4 path=$5
  shift 5
  sleep 1
  : >"$work/done"
  begin_sample
  env CAP_THREADS="$threads" CAP_QUOTA=$((requests / threads)) CAP_METHOD=GET CAP_PATH="$path" \
    CAP_DONE="$work/done" "$@" \
    wrk -t"$threads" -c"$connections" -d120s --timeout 10s -s bench/capacity.lua "$app$path" >"$work/wrk.txt"
  local line done_requests duration non2xx socket p50
  line=$(grep '^capacity ' "$work/wrk.txt") || {
    cat "$work/wrk.txt" >&2
    exit 1
  }
  read -r _ done_requests duration non2xx socket p50 <<<"$line"
  if [ "$((non2xx + socket))" -gt 0 ]; then
    echo "$name: $non2xx answers outside 2xx, $socket socket errors; wrk said:" >&2
    cat "$work/wrk.txt" >&2
  fi
  end_sample "$name" "$done_requests" "$duration" "$p50" "$((non2xx + socket))"
}

: >"$work/rows"
: >"$work/statements"
# Both idle (the mail outbox is looked at every second, the keys every 10 s): subtracted from
# nothing, shown per second under the table.
begin_sample
sleep 5
end_sample idle 0 5000000 0 0

measure "GET /whoAmI, one session" 2 32 "$WHOAMI" /whoAmI CAP_BEARERS="$work/reader"
measure "GET /todos (20), one session" 2 32 "$LISTS" /todos CAP_BEARERS="$work/reader"
# logins NAME PATH SAVE [VAR=VALUE...]: each user logs in once; the tokens (refresh tokens from
# /users/refresh-login) go to $work/SAVE.
logins() {
  local name=$1 path=$2 save=$3
  shift 3
  measure "$name" 2 8 "$USERS" "$path" CAP_METHOD=POST CAP_LOGINS="$USERS" CAP_SAVE="$work/$save" "$@"
  cat "$work/$save".* >"$work/$save"
}
logins "POST /users/login" /users/login tokens
logins "POST /users/refresh-login" /users/refresh-login sessions
# Paced: 4 connections, each over a quarter of the tokens, a request every `pace` ms, so that a
# token comes back after USERS / 4 x pace >= 1.25 s: past the second an instance keeps a
# session's answer.
pace=$(((4 * 1250 + USERS - 1) / USERS))
fresh=(CAP_BEARERS="$work/tokens" CAP_DELAY_MS="$pace")
todo='{"title":"capacity todo","desc":"written by wrk","isComplete":false}'
measure "GET /whoAmI, fresh session" 4 4 $((3 * USERS)) /whoAmI "${fresh[@]}"
measure "GET /todos (20), fresh session" 4 4 $((3 * USERS)) /todos "${fresh[@]}"
measure "POST /todos, fresh session" 4 4 $((3 * USERS)) /todos "${fresh[@]}" CAP_METHOD=POST CAP_BODY="$todo"
measure "POST /todos, $USERS users" 2 32 "$WRITES" /todos CAP_BEARERS="$work/tokens" CAP_METHOD=POST \
  CAP_BODY="$todo"
measure "POST /refresh, $USERS sessions" "$REFRESHERS" "$REFRESHERS" "$REFRESHES" /refresh CAP_METHOD=POST \
  CAP_CHAINS="$work/sessions"
measure "POST /refresh, one session" 1 1 "$SOLO_REFRESHES" /refresh CAP_METHOD=POST CAP_CHAINS="$work/solo"

# The credential routes with the limits on.
stop_server "$app_pid"
start_app limited TODO_JWT_TRUSTED_PROXIES=127.0.0.1
logins "POST /users/login, limits on" /users/login tokens-limited CAP_FORWARDED=1
logins "POST /users/refresh-login, limits on" /users/refresh-login sessions-limited CAP_FORWARDED=1
measure "POST /refresh, $USERS sessions, limits on" "$REFRESHERS" "$REFRESHERS" "$REFRESHES" /refresh \
  CAP_METHOD=POST CAP_CHAINS="$work/sessions-limited" CAP_FORWARDED=1

# PostgreSQL alone: a one-row UPDATE (one of 100 rows) a transaction.
psql "$pg_url/capacity" -qc 'CREATE TABLE commits (id int PRIMARY KEY, n bigint)' \
  -c 'INSERT INTO commits SELECT i, 0 FROM generate_series(1, 100) i'
printf '\\set id random(1, 100)\nUPDATE commits SET n = n + 1 WHERE id = :id;\n' >"$work/commit.sql"
pgbench_tps() { # CLIENTS -> transactions/s
  "$PG_BIN/pgbench" -h 127.0.0.1 -p "$pg_port" -U postgres -n -c "$1" -j "$(($1 < 2 ? 1 : 2))" -T 3 \
    -f "$work/commit.sql" capacity 2>&1 | awk '/^tps/ {printf "%.0f", $3}'
}
solo_tps=$(pgbench_tps 1)
group_tps=$(pgbench_tps 16)

echo
printf '%-36s %8s %6s %6s %7s %6s %6s %6s %7s %6s %5s %5s %7s\n' kind requests "req/s" "p50" \
  "inst" "DB" "DB" "DB" commits "WAL" inst DB non-2xx
printf '%-36s %8s %6s %6s %7s %6s %6s %6s %7s %6s %5s %5s %7s\n' "" "" "" ms "us/req" "st/req" \
  "rt/req" "us/req" "/req" "B/req" cores cores ""
while IFS='|' read -r name requests duration p50 app_ticks pg statements trips xids wal bad; do
  if [ "$name" = idle ]; then
    idle_row=$(awk -v a="$app_ticks" -v p="$pg" -v s="$statements" -v r="$trips" -v x="$xids" \
      -v w="$wal" -v d="$duration" -v hz="$hz" 'BEGIN {
        t = d / 1e6
        printf "idle, per second: instance CPU %.0f us, %.1f statements, %.1f round trips, DB CPU %.0f us, %.1f commits, %.0f WAL bytes",
          a / hz * 1e6 / t, s / t, r / t, p / hz * 1e6 / t, x / t, w / t
      }')
    continue
  fi
  awk -v name="$name" -v n="$requests" -v d="$duration" -v p50="$p50" -v a="$app_ticks" -v p="$pg" \
    -v s="$statements" -v r="$trips" -v x="$xids" -v w="$wal" -v bad="$bad" -v hz="$hz" 'BEGIN {
      t = d / 1e6
      printf "%-36s %8d %6.0f %6.2f %7.0f %6.2f %6.2f %6.0f %7.2f %6.0f %5.2f %5.2f %7d\n",
        name, n, n / t, p50 / 1000, a / hz * 1e6 / n, s / n, r / n, p / hz * 1e6 / n, x / n, w / n,
        a / hz / t, p / hz / t, bad
    }'
done <"$work/rows"
echo "$idle_row"
echo
echo "PostgreSQL alone (pgbench, a one-row UPDATE a transaction, 3 s): 1 client $solo_tps commits/s" \
  "($(awk -v t="$solo_tps" 'BEGIN {printf "%.2f", 1000 / t}') ms each), 16 clients $group_tps commits/s"
echo "cores: $(nproc) ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)); password hashes:" \
  "$argon2, one hashing thread a core; $("$PG_BIN/postgres" --version);" \
  "$(sql "SELECT format('fsync %s, synchronous_commit %s, shared_buffers %s', current_setting('fsync'),
    current_setting('synchronous_commit'), current_setting('shared_buffers'));")"
echo "server: $SERVER_BIN; list cache $LIST_CACHE_MB MiB; wrk on the same cores. Columns: CPU time a" \
  "request (inst, DB), statements (the service's count), round trips, commits (transactions that" \
  "wrote), WAL bytes, and cores kept busy during the run."
if [ -s "$work/statements" ]; then
  echo
  cat "$work/statements"
fi

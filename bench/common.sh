#!/usr/bin/env bash
# What the scripts in bench/ share. Sourced (not run) right after the preamble, from the
# project root:
#
#   set -euo pipefail
#   cd "$(dirname "$0")/.."
#   # shellcheck source=bench/common.sh
#   source bench/common.sh
#
# Sourcing creates $work (a fresh temporary directory) and sets one EXIT trap: it kills every
# pid in bench_pids and waits for it (register a background server with `bench_pids+=($!)`), removes $work,
# then runs the commands registered with on_exit (e.g. dropping a PostgreSQL database).

work=$(mktemp -d)
bench_pids=()
bench_exit_commands=()
bench_cleanup() {
  local pid command
  for pid in "${bench_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Gone before the script ends: a server still shutting down (callgrind writing its profile,
  # say) kept the port, and the next run's requests reached it (a 409 on its first signup).
  for pid in "${bench_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
  for command in "${bench_exit_commands[@]}"; do eval "$command" || true; done
}
trap bench_cleanup EXIT

# on_exit COMMAND [ARG...]: runs COMMAND ARG... when the script exits (after the servers are
# killed and $work removed).
on_exit() {
  bench_exit_commands+=("$(printf '%q ' "$@")")
}

# stop_server PID: stops a registered background process (SIGTERM, then waits for it) and drops
# it from bench_pids, for scripts that start a fresh server per measurement.
stop_server() {
  kill "$1"
  wait "$1" 2>/dev/null || true
  local pid kept=()
  for pid in "${bench_pids[@]}"; do [ "$pid" = "$1" ] || kept+=("$pid"); done
  bench_pids=("${kept[@]}")
}

# need_package COMMAND [PACKAGE]: installs the Debian PACKAGE (default: COMMAND) when COMMAND is
# not on the PATH.
need_package() {
  if ! command -v "$1" >/dev/null; then
    echo "installing ${2:-$1} (Debian package)"
    (apt-get update -qq && apt-get install -y -qq "${2:-$1}") >/dev/null
  fi
}

# release_bins VAR=PACKAGE...: each VAR left empty (or unset) by the caller becomes
# target/release/PACKAGE, built first by one `cargo build --release -p PACKAGE...` (its last line
# is printed); nothing is built when every VAR is given.
release_bins() {
  local spec var package packages=()
  for spec in "$@"; do
    var=${spec%%=*}
    package=${spec#*=}
    if [ -z "${!var:-}" ]; then
      printf -v "$var" '%s' "target/release/$package"
      case " ${packages[*]} " in
        *" $package "*) ;;
        *) packages+=(-p "$package") ;;
      esac
    fi
  done
  if [ "${#packages[@]}" -gt 0 ]; then
    cargo build --release "${packages[@]}" 2>&1 | tail -n 1
  fi
}

# release_server: SERVER_BIN, by default target/release/todo-jwt (built when SERVER_BIN is not
# given).
release_server() {
  release_bins SERVER_BIN=todo-jwt
}

# random_secret: exports TODO_JWT_SECRET, 32 random bytes in hex, new for every run.
random_secret() {
  export TODO_JWT_SECRET
  TODO_JWT_SECRET=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
}

# postgres_database NAME: with BACKEND=postgres, creates the database NAME on the server at
# PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres), sets DATABASE_URL to it
# and drops it on exit (WITH (FORCE)); with BACKEND=pgbouncer, the same database reached
# through PgBouncer in transaction mode (tests/pgbouncer.sh starts it; DATABASE_URL has
# `pooler=transaction`, DIRECT_DATABASE_URL is the server's own); otherwise (SQLite, the
# default) DATABASE_URL is empty.
postgres_database() {
  DATABASE_URL=
  DIRECT_DATABASE_URL=
  case "${BACKEND:-sqlite}" in
    postgres | pgbouncer)
      local admin=${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
      psql "$admin" -qc "CREATE DATABASE $1"
      DIRECT_DATABASE_URL=${admin%/*}/$1
      DATABASE_URL=$DIRECT_DATABASE_URL
      on_exit psql "$admin" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)"
      if [ "$BACKEND" = pgbouncer ]; then
        local port
        port=$(bash tests/pgbouncer.sh start)
        on_exit bash tests/pgbouncer.sh stop
        # shellcheck disable=SC2034 # read by the scripts that source this file
        DATABASE_URL="postgres://postgres@127.0.0.1:$port/$1?pooler=transaction"
      fi
      ;;
  esac
}

# wait_until_up URL: waits up to ~10 s (100 tries, 0.1 s apart) for URL to answer with any HTTP
# status; otherwise prints the logs in $work (*.log) and exits with status 1.
wait_until_up() {
  local _
  for _ in $(seq 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "server at $1 did not start" >&2
  cat "$work"/*.log >&2 || true
  exit 1
}

# signed_up_token BASE EMAIL [PASSWORD]: signs EMAIL up at the service at BASE (password
# `benchmark-password` unless given), logs in and prints the access token.
signed_up_token() {
  local credentials
  credentials=$(printf '{"email":"%s","password":"%s"}' "$2" "${3:-benchmark-password}")
  curl -sf "$1/signup" -H 'Content-Type: application/json' -d "$credentials" >/dev/null
  curl -sf "$1/users/login" -H 'Content-Type: application/json' -d "$credentials" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

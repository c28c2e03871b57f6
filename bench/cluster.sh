#!/usr/bin/env bash
# The deployment kit of deploy/, proven on this machine: three todo-jwt instances (started as
# deploy/todo-jwt.service starts them) behind HAProxy (deploy/haproxy.cfg), through PgBouncer
# in transaction mode (deploy/pgbouncer.ini), on a PostgreSQL server of its own, under a mixed
# load of reads, writes, logins and refreshes from several client addresses. Scenarios:
#   1. a rolling restart of the three, one at a time: no request fails;
#   2. kill -9 of one: only requests in flight on it fail; the others carry on;
#   3. PostgreSQL stopped and started: only 503s with Retry-After meanwhile, then full service;
#   4. the per-account lockout, the per-address limit (the client's address, through HAProxy),
#      logout and key rotation hold across the three.
#
#   bash bench/cluster.sh                          # builds target/release/todo-jwt if needed
#   SERVER_BIN=/path/to/todo-jwt bash bench/cluster.sh
#
# Loopback only; about a minute. Installs haproxy, pgbouncer and postgresql (Debian) when missing; as
# root, creates the unit's system user (todo-jwt) and runs PostgreSQL and PgBouncer as
# postgres. Prints one line per scenario with its counts, then "N passed, M failed"; exits 1
# if a scenario failed. Logs of every process are kept in target/cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh

need_package haproxy
need_package pgbouncer
if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  echo "installing postgresql (Debian package)"
  (apt-get update -qq && apt-get install -y -qq postgresql) >/dev/null
fi
release_bins SERVER_BIN=todo-jwt

logs=$PWD/target/cluster
rm -rf "$logs"
mkdir -p "$logs"
# The instances' and PostgreSQL's users must reach their files and the binary.
chmod 755 "$logs"
cp "$SERVER_BIN" "$logs/todo-jwt"
python3 bench/cluster.py --server "$logs/todo-jwt" --work "$logs"

#!/usr/bin/env bash
# Starts PgBouncer in transaction pooling mode in front of the PostgreSQL server at
# 127.0.0.1:5432 (any database, user postgres, trust auth), for the pooler pass of
# tests/run.sh; prints its port once it accepts connections.
#
#   port=$(bash tests/pgbouncer.sh start)   # installs Debian's pgbouncer if missing
#   bash tests/pgbouncer.sh stop
#
# Its files (configuration, log, pid) are in target/pgbouncer. As root it runs as the
# postgres user (PgBouncer refuses to run as root).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$PWD/target/pgbouncer

stop() {
  if [ -f "$dir/pgbouncer.pid" ]; then
    kill "$(cat "$dir/pgbouncer.pid")" 2>/dev/null || true
    rm -f "$dir/pgbouncer.pid"
  fi
}

case "${1:-}" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac

if ! command -v pgbouncer >/dev/null; then
  echo "installing pgbouncer (Debian package)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer) >/dev/null
fi
stop
mkdir -p "$dir"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
echo '"postgres" ""' >"$dir/users.txt"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
; Every database, on the local server.
* = host=127.0.0.1 port=5432

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
pool_mode = transaction
; The suite runs many services at once, each with its own database and pool.
max_client_conn = 4000
default_pool_size = 20
server_reset_query =
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
: >"$dir/pgbouncer.log"
if [ "$(id -u)" = 0 ]; then
  chown -R postgres "$dir"
  pgbouncer -d -u postgres "$dir/pgbouncer.ini" >&2
else
  pgbouncer -d "$dir/pgbouncer.ini" >&2
fi
for _ in $(seq 50); do
  if pg_isready -q -h 127.0.0.1 -p "$port" -d postgres -U postgres 2>/dev/null; then
    echo "$port"
    exit 0
  fi
  sleep 0.1
done
echo "pgbouncer did not start; its log:" >&2
cat "$dir/pgbouncer.log" >&2
exit 1

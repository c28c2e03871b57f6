#!/usr/bin/env bash
# The audit log's growth under an unauthenticated flood (issue 21, row 5): ATTEMPTS (10,000)
# failed logins for distinct unknown emails from one address, on 4 connections, against a fresh
# SQLite database, with the per-address limit off (TODO_JWT_AUTH_RATE_LIMIT=0, so every attempt
# reaches the password check; RATE_LIMIT=60 for the default). Prints the answers, the rows of
# audit_events and audit_counts (with the sum of the counts) and the database's bytes.
#
#   bash bench/audit_flood.sh        # SERVER_BIN=… for another build (e.g. one from before)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
ATTEMPTS=${ATTEMPTS:-10000}
RATE_LIMIT=${RATE_LIMIT:-0}
PORT=${PORT:-3361}
release_server
random_secret
TODO_JWT_PORT=$PORT TODO_JWT_DATA_DIR=$work/data TODO_JWT_AUTH_RATE_LIMIT=$RATE_LIMIT \
  RUST_LOG=warn "$SERVER_BIN" >"$work/server.log" 2>&1 &
server=$!
bench_pids+=("$server")
wait_until_up "http://127.0.0.1:$PORT/healthz"
python3 - "$PORT" "$ATTEMPTS" <<'PY'
import collections, http.client, json, sys, threading, time
port, attempts = int(sys.argv[1]), int(sys.argv[2])
answers, lock, numbers = collections.Counter(), threading.Lock(), iter(range(attempts))
def flood():
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    while True:
        with lock:
            number = next(numbers, None)
        if number is None:
            return
        body = json.dumps({"email": f"nobody{number}@example.com", "password": "wrong-password"})
        try:
            connection.request("POST", "/users/login", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            status = response.status
        except (http.client.HTTPException, OSError):
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            status = "closed"
        with lock:
            answers[status] += 1
started = time.time()
threads = [threading.Thread(target=flood) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(f"{attempts} attempts in {time.time() - started:.0f} s: {dict(answers)}")
PY
stop_server "$server"
python3 - "$work/data/todo-jwt.sqlite3" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
print("audit_events rows:", db.execute("SELECT count(*) FROM audit_events").fetchone()[0])
if "audit_counts" in tables:
    rows, total = db.execute("SELECT count(*), sum(count) FROM audit_counts").fetchone()
    print(f"audit_counts rows: {rows} (counts add up to {total})")
PY
du -cb "$work"/data/todo-jwt.sqlite3* | tail -n 1 | awk '{print "database bytes:", $1}'

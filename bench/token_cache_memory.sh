#!/usr/bin/env bash
# The verified-token cache's memory: one user logs in N times (20,000), then each token is
# presented once to GET /whoAmI; the server's RSS is printed before and after each quarter.
# The cache holds TODO_JWT_TOKEN_CACHE_SIZE tokens (10,000): past that, RSS should flatten.
#
#   bash bench/token_cache_memory.sh
#   N=5000 SERVER_BIN=/tmp/other/todo-jwt bash bench/token_cache_memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh
N=${N:-20000}
PORT=${PORT:-3385}
release_server
RUST_LOG=warn TODO_JWT_PORT=$PORT TODO_JWT_DATA_DIR="$work/data" TODO_JWT_AUTH_RATE_LIMIT=0 \
  TODO_JWT_MAX_HASH_WAIT_MS=0 TODO_JWT_MAX_SESSIONS_PER_ACCOUNT=1000000 \
  "$SERVER_BIN" >"$work/server.log" 2>&1 &
server_pid=$!
bench_pids+=("$server_pid")
wait_until_up "http://127.0.0.1:$PORT/healthz"
python3 - "$server_pid" "$N" "http://127.0.0.1:$PORT" <<'PY'
import concurrent.futures, json, sys, time, urllib.request

pid, n, base = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

def post(path, body):
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    return json.load(urllib.request.urlopen(request, timeout=60))

def who_am_i(token):
    request = urllib.request.Request(base + "/whoAmI", headers={"Authorization": "Bearer " + token})
    return urllib.request.urlopen(request, timeout=60).status

credentials = {"email": "cache@example.com", "password": "benchmark-password"}
post("/signup", credentials)
with concurrent.futures.ThreadPoolExecutor(8) as pool:
    tokens = list(pool.map(lambda _: post("/users/login", credentials)["token"], range(n)))
time.sleep(12)  # the password threads give their memory back after 5 s without a hash
print(f"{n} tokens issued ({len(tokens[0])} bytes each); RSS {rss():.1f} MiB before any is presented")
for quarter in range(4):
    part = tokens[quarter * n // 4 : (quarter + 1) * n // 4]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        assert all(status == 200 for status in pool.map(who_am_i, part))
    print(f"after {(quarter + 1) * n // 4} distinct tokens presented: RSS {rss():.1f} MiB")
PY

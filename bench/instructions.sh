#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a measure of the read path that does not
# depend on what else the machine is doing (wrk's requests/s on a shared 2-core box do).
#
#   bash bench/instructions.sh                         # target/release/todo-jwt
#   SERVER_BIN=/tmp/old/todo-jwt bash bench/instructions.sh   # another build, to compare
#   REQUESTS=2000 bash bench/instructions.sh
#   ANNOTATE=30 bash bench/instructions.sh             # also each endpoint's 30 costliest
#                                                      # functions (their own instructions), by callgrind_annotate
#   ANNOTATE=60 INCLUSIVE=1 bash bench/instructions.sh # the same, each function with its callees
#   CEILING_BIN=target/release/ceiling bash bench/instructions.sh   # also the ceiling's
#                                                      # GET /todos (crates/ceiling), same token
#   KEEP=/tmp/cg bash bench/instructions.sh            # keep callgrind's dumps there (one per
#                                                      # endpoint, in order, and the ceiling's), for callgrind_annotate --tree=caller
#
# Starts the server under callgrind on fresh data, seeds one user with 20 todos, warms up,
# then counts the instructions of REQUESTS sequential requests per endpoint on one keep-alive
# connection, and prints the count per request.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/common.sh
source bench/common.sh

REQUESTS=${REQUESTS:-1000}
PORT=${PORT:-3311}
release_server
need_package valgrind
random_secret
RUST_LOG=${RUST_LOG:-warn} TODO_JWT_PORT=$PORT TODO_JWT_DATA_DIR="$work/data" \
  valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" \
  "$SERVER_BIN" >"$work/server.log" 2>&1 &
server_pid=$!
bench_pids+=("$server_pid")

python3 - "$PORT" "$REQUESTS" "$server_pid" "$work" "${ANNOTATE:-0}" "${INCLUSIVE:-0}" "${CEILING_BIN:-}" <<'PY'
import http.client, json, subprocess, sys, time, glob, os

port, requests, pid, work = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
annotate = int(sys.argv[5])
inclusive = sys.argv[6] == "1"
ceiling = sys.argv[7]
for _ in range(600):
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=60).request("GET", "/")
        break
    except OSError:
        time.sleep(0.2)
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

def call(method, path, body=None, token=None, extra=None):
    headers = {"Content-Type": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    assert response.status < 300 or response.status == 304, (method, path, response.status, data)
    call.etag = response.getheader("ETag")
    return data

credentials = {"email": "reader@example.com", "password": "benchmark-password"}
call("POST", "/signup", credentials)
token = json.loads(call("POST", "/users/login", credentials))["token"]
for i in range(20):
    call("POST", "/todos", {"title": f"todo number {i}", "desc": "something to do", "isComplete": i % 2 == 0}, token)
one = json.loads(call("GET", "/todos?filter[limit]=1", token=token))[0]["id"]

def total(pid=pid, prefix="callgrind.out"):
    # Dump the counters so far and read the total instruction count ("summary:" or "totals:").
    subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
    count = 0
    for path in glob.glob(os.path.join(work, prefix + "*")):
        for line in open(path):
            if line.startswith("summary:") or line.startswith("totals:"):
                count += int(line.split()[1])
                break
    return count

call("GET", "/todos", token=token)
endpoints = [("GET /todos (20 todos)", "/todos", None)]
if call.etag:
    endpoints.append(("GET /todos, 304", "/todos", {"If-None-Match": call.etag}))
endpoints += [("GET /todos/{id}", f"/todos/{one}", None), ("GET /whoAmI", "/whoAmI", None)]
for name, path, extra in endpoints:
    for _ in range(200):
        call("GET", path, token=token, extra=extra)
    before = total()
    for _ in range(requests):
        call("GET", path, token=token, extra=extra)
    after = total()
    print(f"{name:28} {(after - before) / requests:12,.0f} instructions per request")
    if annotate:
        # Each dump holds what ran since the one before: the newest, made by total() just
        # now, is this endpoint's loop alone.
        newest = max(glob.glob(os.path.join(work, "callgrind.out*")), key=os.path.getmtime)
        table = subprocess.run(
            ["callgrind_annotate", "--threshold=100", f"--inclusive={'yes' if inclusive else 'no'}", newest],
            check=True, capture_output=True, text=True,
        ).stdout.splitlines()
        # The function table: each function's own instructions per request, then the function, without the
        # frames every line shares (thread start, the runtime's loop).
        shown = 0
        for line in table:
            fields = line.split()
            if len(fields) < 3 or not fields[0].replace(",", "").isdigit() or "(" not in fields[1]:
                continue
            name = line.split(":", 1)[-1].split(" [")[0] if ":" in line else fields[-1]
            if any(frame in line for frame in ("thread_start", "start_thread", "clone.S", "PROGRAM TOTALS", "events annotated")):
                continue
            print(f"  {int(fields[0].replace(',', '')) / requests:10,.0f}  {fields[1]:>9}  {name[:110]}")
            shown += 1
            if shown == annotate:
                break
        print()

if ceiling:
    # The ceiling (a fixed body behind the same bearer strategy and token cache), verifying
    # this server's tokens with its JWK Set, under callgrind in the same way.
    jwks = call("GET", "/.well-known/jwks.json").decode()
    ceiling_port = port + 1
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/ceiling.out",
         ceiling, str(ceiling_port)],
        env=dict(os.environ, CEILING_JWKS=jwks), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", ceiling_port, timeout=120)
            conn.request("GET", "/", headers={})
            conn.getresponse().read()
            break
        except OSError:
            time.sleep(0.2)
    conn = http.client.HTTPConnection("127.0.0.1", ceiling_port, timeout=120)
    for _ in range(200):
        call("GET", "/todos", token=token)
    before = total(str(process.pid), "ceiling.out")
    for _ in range(requests):
        call("GET", "/todos", token=token)
    after = total(str(process.pid), "ceiling.out")
    print(f"{'ceiling GET /todos':28} {(after - before) / requests:12,.0f} instructions per request")
    process.terminate()
    process.wait()
PY
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$work"/callgrind.out* "$KEEP"/
  cp "$work"/ceiling.out* "$KEEP"/ 2>/dev/null || true
fi
echo "server: $SERVER_BIN; $REQUESTS sequential requests per endpoint, one connection, under callgrind"

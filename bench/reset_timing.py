#!/usr/bin/env python3
"""Enumeration by timing: does `POST /users/password-reset` answer an account's address in the
same time as an unknown one? Signs up one account, then asks for resets alternately for it and
for unknown addresses, N times each on one keep-alive connection, and prints the median and p90
of each, and their difference.

    python3 bench/reset_timing.py PORT [N]

Run it against a server with the per-address limit off (TODO_JWT_AUTH_RATE_LIMIT=0); the
per-email cap (3 messages an hour) still applies, so most requests for the account send nothing,
as an attacker's would. Loopback only; bounded by N.
"""
import http.client, json, statistics, sys, time, uuid

port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)


def post(path, body):
    started = time.perf_counter()
    conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    return response.status, data, elapsed


known = f"timing-{uuid.uuid4().hex[:8]}@example.com"
status, _, _ = post("/signup", {"email": known, "password": "timing-password"})
assert status == 200, status
times = {"existing": [], "unknown": []}
bodies = set()
for i in range(n):
    for kind in ("existing", "unknown") if i % 2 == 0 else ("unknown", "existing"):
        email = known if kind == "existing" else f"nobody-{uuid.uuid4().hex[:12]}@example.com"
        status, data, elapsed = post("/users/password-reset", {"email": email})
        assert status == 202, (status, data)
        bodies.add(data)
        times[kind].append(elapsed * 1000)
for kind, values in times.items():
    values.sort()
    print(f"{kind:9} median {statistics.median(values):.3f} ms, p90 {values[int(len(values) * 0.9)]:.3f} ms ({len(values)} requests)")
difference = statistics.median(times["existing"]) - statistics.median(times["unknown"])
print(f"median difference (existing - unknown): {difference:+.3f} ms; distinct bodies: {len(bodies)}")

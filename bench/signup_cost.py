#!/usr/bin/env python3
"""What signup's verification message costs the signup: two servers (A and B, e.g. builds
before and after the outbox) each take N signups, alternately, one at a time on a keep-alive
connection; prints each one's median and p90 latency and the ratio of the medians.

    python3 bench/signup_cost.py PORT_A PORT_B [N]

Run both with the per-address limit off (TODO_JWT_AUTH_RATE_LIMIT=0). Loopback only; N
signups per server. A signup hashes a password (argon2id, ~20 ms of one core): the message's
part is what is left of the difference.
"""
import http.client, json, statistics, sys, time, uuid

ports = {"A": int(sys.argv[1]), "B": int(sys.argv[2])}
n = int(sys.argv[3]) if len(sys.argv) > 3 else 100
conns = {name: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for name, port in ports.items()}
times = {name: [] for name in ports}
for i in range(n):
    for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
        body = json.dumps({"email": f"cost-{uuid.uuid4().hex[:12]}@example.com", "password": "signup-cost"})
        started = time.perf_counter()
        conns[name].request("POST", "/signup", body, {"Content-Type": "application/json"})
        response = conns[name].getresponse()
        response.read()
        times[name].append((time.perf_counter() - started) * 1000)
        assert response.status == 200, (name, response.status)
for name, values in times.items():
    values.sort()
    print(f"{name}: median {statistics.median(values):.2f} ms, p90 {values[int(len(values) * 0.9)]:.2f} ms ({len(values)} signups)")
print(f"median B/A: {statistics.median(times['B']) / statistics.median(times['A']):.3f}")

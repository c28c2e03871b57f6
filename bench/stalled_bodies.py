#!/usr/bin/env python3
"""Stalled request bodies: opens N connections that each send all but the last byte of a
~1 MB body, then stall; prints the server's RSS before, while they are open, after WAIT
seconds, after they close (3 s, and 12 s with no traffic), and after some light traffic (the allocator gives freed memory back
when it next works), and whether another client is served meanwhile.

    python3 bench/stalled_bodies.py PORT N SERVER_PID [WAIT [BODY_BYTES [PATH]]]

Loopback only; bounded: N connections (100 from each of 127.0.0.2, .3, ..., within the
per-address connection cap), WAIT seconds. bench/hostile.sh runs it.
"""
import socket, sys, time
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
def rss():
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024
body = b'{"email":"a@b.co","password":"' + b"p" * (int(sys.argv[5]) if len(sys.argv) > 5 else 1000 * 1024) + b'"}'
head = (f"POST " + (sys.argv[6] if len(sys.argv) > 6 else "/signup") + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n").encode()
print(f"RSS idle: {rss()} MiB")
socks = []
refused = 0
for i in range(n):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    # From 127.0.0.2, .3, ...: 100 per address, within the per-address cap (128).
    s.bind((f"127.0.0.{2 + i // 100}", 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(head + body[:-1])
        socks.append(s)
    except OSError:
        refused += 1
        s.close()
time.sleep(1)
print(f"{len(socks)} connections stalled ({refused} refused while sending); RSS {rss()} MiB")
t0 = time.time()
# Is another client served meanwhile?
c = socket.create_connection(("127.0.0.1", port), timeout=30)
c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
first = c.recv(100)
print(f"another client's GET /: {first[:15]!r} in {(time.time()-t0)*1000:.0f} ms")
c.close()
time.sleep(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
print(f"after waiting: RSS {rss()} MiB")
for s in socks:
    s.close()
time.sleep(3)
print(f"after they closed: RSS {rss()} MiB")
time.sleep(9)
print(f"12 s after they closed, with no traffic: RSS {rss()} MiB")
# The allocator keeps freed memory until it next works; any traffic gives it back.
t0 = time.time()
for _ in range(2000):
    if time.time() - t0 > 10:
        break
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    while c.recv(65536):
        pass
    c.close()
time.sleep(1)
print(f"after 2,000 light requests: RSS {rss()} MiB")


#!/usr/bin/env python3
"""Issue 21, rows 2 and 9, against a release binary (loopback only, bounded in time): a victim
measured while an attacker takes a shared bound.

    python3 bench/fair_share.py SERVER_BIN [refusals|lists|all]

- refusals (row 9): the victim reads GET /todos (wrk -t1 -c4, 10 s) from one client address,
  alone and then while 32 connections from another address loop on 401 (a bad token, ignoring
  Retry-After). Both come through a trusted proxy (X-Forwarded-For), so wrk can be each client.
  Prints the victim's requests/s and p99 alone and during, their ratio, and the attacker's
  refusals/s.
- lists (row 2): one account stores ATTACKER_TODOS (310) todos of 2,000 + 20,000 control
  characters (~132 KB each as JSON, so a ~41 MB list: three of them fill the default 128 MiB);
  three connections ask for its list and each reads 64 KB a second; another
  user asks for their ~1 MB list, one request after the other, for 60 s. Prints the victim's
  answers by status and the attacker's.

Needs wrk (apt-get install wrk).
"""
import json, os, re, signal, socket, subprocess, sys, tempfile, threading, time, urllib.request

BIN = sys.argv[1]
WHAT = sys.argv[2] if len(sys.argv) > 2 else "all"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, **env):
        self.dir = tempfile.mkdtemp(prefix="fair-")
        self.port = free_port()
        environment = dict(os.environ, TODO_JWT_PORT=str(self.port), TODO_JWT_DATA_DIR=self.dir,
                           TODO_JWT_SECRET=os.urandom(32).hex(), TODO_JWT_AUTH_RATE_LIMIT="0",
                           TODO_JWT_LOGIN_MAX_FAILURES="0", RUST_LOG="warn", **env)
        self.log = open(os.path.join(self.dir, "server.log"), "w")
        self.process = subprocess.Popen([BIN], env=environment, stdout=self.log, stderr=self.log)
        for _ in range(100):
            try:
                urllib.request.urlopen(self.url("/healthz"), timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the server did not start")

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def call(self, method, path, body=None, token=None):
        request = urllib.request.Request(self.url(path), method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"null")

    def user(self, email):
        self.call("POST", "/signup", {"email": email, "password": "a long password 1"})
        return self.call("POST", "/users/login", {"email": email, "password": "a long password 1"})["token"]

    def stop(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def wrk(url, connections, seconds, headers):
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run(command + [url], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    return rps, float(p99.group(1)) * scale


def refusals():
    server = Server(TODO_JWT_TRUSTED_PROXIES="127.0.0.1/32")
    try:
        token = server.user("victim@example.com")
        for index in range(20):
            server.call("POST", "/todos", {"title": f"todo {index}"}, token)
        victim = [f"Authorization: Bearer {token}", "X-Forwarded-For: 10.0.0.1"]
        alone = wrk(server.url("/todos"), 4, 10, victim)
        attack = {}
        def attacker():
            attack["result"] = wrk(server.url("/whoAmI"), 32, 14,
                                   ["Authorization: Bearer not-a-token", "X-Forwarded-For: 10.0.0.2"])
        thread = threading.Thread(target=attacker)
        thread.start()
        time.sleep(2)
        during = wrk(server.url("/todos"), 4, 10, victim)
        thread.join()
        print(f"row 9: victim alone {alone[0]:,.0f} req/s p99 {alone[1]:.2f} ms; during the attack "
              f"{during[0]:,.0f} req/s p99 {during[1]:.2f} ms: {during[0] / alone[0]:.0%} of its "
              f"throughput, p99 x{during[1] / alone[1]:.1f}; attacker {attack['result'][0]:,.0f} refusals/s")
    finally:
        server.stop()


def slow_reader(server, token, rate, seconds, outcome):
    s = socket.create_connection(("127.0.0.1", server.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(f"GET /todos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    got, started = 0, time.time()
    status = s.recv(12)[9:12].decode()
    try:
        while time.time() - started < seconds:
            chunk = s.recv(rate // 10)
            if not chunk:
                break
            got += len(chunk)
            time.sleep(0.1)
    except OSError:
        pass
    outcome.append((status, got, round(time.time() - started)))
    s.close()


def lists():
    server = Server()
    try:
        attacker = server.user("hoarder@example.com")
        victim = server.user("victim@example.com")
        big = {"title": "\u0001" * 2000, "desc": "\u0001" * 20000}
        for _ in range(int(os.environ.get("ATTACKER_TODOS", "310"))):
            server.call("POST", "/todos", big, attacker)
        for _ in range(8):
            server.call("POST", "/todos", big, victim)
        outcome = []
        readers = [threading.Thread(target=slow_reader, args=(server, attacker, 64 * 1024, 70, outcome))
                   for _ in range(3)]
        for reader in readers:
            reader.start()
        time.sleep(5)
        statuses, started, latencies = {}, time.time(), []
        while time.time() - started < 60:
            t0 = time.time()
            try:
                server.call("GET", "/todos", token=victim)
                status = 200
            except urllib.error.HTTPError as error:
                status = error.code
            latencies.append(time.time() - t0)
            statuses[status] = statuses.get(status, 0) + 1
            time.sleep(0.2)
        for reader in readers:
            reader.join()
        latencies.sort()
        print(f"row 2: victim's 1 MB lists over 60 s: {statuses}, p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms; "
              f"attacker's slow readers (status, bytes read, seconds): {outcome}")
    finally:
        server.stop()


if WHAT in ("refusals", "all"):
    refusals()
if WHAT in ("lists", "all"):
    lists()

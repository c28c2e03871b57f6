#!/usr/bin/env python3
"""The rows of issue 10, one by one, against an already-running server: each attack, what the
server answered (status codes with counts; the LoopBack envelope's `error.code`/`statusCode`),
and where it matters a victim's GET /todos latency (p50/p99) and the server's RSS.

    python3 bench/hostile_rows.py BASE_URL SERVER_PID DATA_DIR [BACKEND]

BASE_URL must be a loopback `http://127.0.0.1:PORT`; SERVER_PID is read for VmRSS; DATA_DIR is
the server's data directory (modes checked); BACKEND is `sqlite` (default) or `postgres`. The
HS256 secret is read from TODO_JWT_SECRET (row 14 mints tokens with it); for row 9, the
service's database URL from TODO_JWT_DATABASE_URL (optional). Rows 1 and 12 (costly filters)
are bench/hostile.sh's own measurement and are skipped here.

Standard library only; every loop is bounded in count and time, every socket has a timeout;
about two minutes in all (row 10 alone holds stalled sockets for 40 s). bench/hostile.sh runs it.
"""
import base64
import collections
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
import urllib.parse

if len(sys.argv) < 4:
    sys.exit(__doc__)
BASE, PID, DATA_DIR = sys.argv[1], sys.argv[2], sys.argv[3]
BACKEND = sys.argv[4] if len(sys.argv) > 4 else "sqlite"
_url = urllib.parse.urlsplit(BASE)
HOST, PORT = _url.hostname, _url.port or 80
if HOST not in ("127.0.0.1", "localhost", "::1"):
    sys.exit(f"hostile_rows.py attacks loopback servers only, not {HOST}")
SECRET = os.environ.get("TODO_JWT_SECRET", "")
TAG = f"{os.getpid()}.{int(time.time())}"  # unique emails, so a rerun on one server works
PASSWORD = "hostile-rows-password"
STARTED = time.monotonic()


def say(*parts):
    print(*parts, flush=True)


# ---------------------------------------------------------------------------------------------
# Measuring: RSS, latencies.

def rss_of(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        pass
    return None


def rss():
    return rss_of(PID)


class PeakRss:
    """Samples the server's RSS every 0.2 s (at most `limit` seconds) and keeps the peak."""

    def __init__(self, limit=120):
        self.peak, self.limit, self.done = None, limit, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        end = time.monotonic() + self.limit
        while not self.done.is_set() and time.monotonic() < end:
            value = rss()
            if value is not None and (self.peak is None or value > self.peak):
                self.peak = value
            self.done.wait(0.2)

    def stop(self):
        self.done.set()
        self.thread.join(2)
        return self.peak


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, round(p / 100 * (len(sorted_values) - 1)))]


def counts(counter):
    return ", ".join(f"{key}: {value}" for key, value in sorted(counter.items(), key=str)) or "none"


class Victim:
    """A separate user sending sequential GETs over one keep-alive connection (reconnecting
    after an error), timing each, until stopped (at most `limit` seconds, 1,000,000 requests)."""

    def __init__(self, token, path="/todos", limit=120):
        self.token, self.path, self.limit = token, path, limit
        self.latencies, self.statuses, self.done = [], collections.Counter(), threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        end = time.monotonic() + self.limit
        conn = None
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self.done.is_set() and time.monotonic() < end and len(self.latencies) < 1_000_000:
            began = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(HOST, PORT, timeout=15)
                conn.request("GET", self.path, headers=headers)
                response = conn.getresponse()
                response.read()
                self.statuses[response.status] += 1
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                self.statuses[type(error).__name__] += 1
                if conn is not None:
                    conn.close()
                conn = None
                self.done.wait(0.05)
            self.latencies.append(time.perf_counter() - began)
        if conn is not None:
            conn.close()

    def stop(self):
        self.done.set()
        self.thread.join(20)
        values = sorted(self.latencies)
        return (f"victim GET {self.path}: {len(values)} requests ({counts(self.statuses)}), "
                f"p50 {percentile(values, 50) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms, "
                f"max {(values[-1] if values else float('nan')) * 1000:.1f} ms")

    @classmethod
    def measure(cls, token, seconds, path="/todos"):
        victim = cls(token, path)
        time.sleep(seconds)
        return victim.stop()


# ---------------------------------------------------------------------------------------------
# Talking to the server.

class Answer:
    def __init__(self, status=None, headers=None, body=b"", error=None, elapsed=0.0):
        self.status, self.headers, self.body, self.error, self.elapsed = status, headers or {}, body, error, elapsed

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def describe(self):
        """`400 code=X statusCode=400 name=..`, the OAuth error, or the start of an odd body."""
        if self.error is not None:
            return f"no answer ({self.error})"
        text = f"{self.status}"
        body = self.json()
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            error = body["error"]
            text += f" [{error.get('name')} code={error.get('code')} statusCode={error.get('statusCode')}"
            message = str(error.get("message", ""))
            text += f" message={message[:90]!r}{'...' if len(message) > 90 else ''}]"
        elif isinstance(body, dict) and isinstance(body.get("error"), str):
            text += f" [OAuth error={body['error']} description={str(body.get('error_description'))[:90]!r}]"
        elif self.status is not None and self.status >= 300:
            text += f" body={self.body[:120]!r}"
        return text


class Conn:
    """One keep-alive connection; no retries (a failure is reported, and the next call
    reconnects)."""

    def __init__(self, timeout=30):
        self.timeout, self.conn = timeout, None

    def request(self, method, path, body=None, headers=None, token=None):
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        began = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, PORT, timeout=self.timeout)
            self.conn.request(method, path, body=body, headers=headers)
            response = self.conn.getresponse()
            data = response.read()
            answer = Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, data,
                            elapsed=time.perf_counter() - began)
            if response.will_close:
                self.close()
            return answer
        except (OSError, http.client.HTTPException) as error:
            self.close()
            return Answer(error=f"{type(error).__name__}: {error}", elapsed=time.perf_counter() - began)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def call(method, path, body=None, headers=None, token=None, timeout=30):
    conn = Conn(timeout)
    try:
        return conn.request(method, path, body, headers, token)
    finally:
        conn.close()


def q(value):
    """A JSON value, URL-encoded for a query parameter."""
    return urllib.parse.quote(json.dumps(value, separators=(",", ":")), safe="")


def raw_exchange(payload, timeout=10, limit=4 * 1024 * 1024):
    """Sends raw bytes on a fresh socket and reads the answer: until EOF, until the declared
    Content-Length (or the last chunk) has arrived, `limit` bytes, or `timeout` seconds."""
    notes = []
    data = b""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect((HOST, PORT))
        try:
            sock.sendall(payload)
        except OSError as error:
            notes.append(f"sending stopped after the server closed ({type(error).__name__})")
        end = time.monotonic() + timeout
        while len(data) < limit and time.monotonic() < end:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                notes.append("timed out reading")
                break
            except OSError as error:
                notes.append(f"read error {type(error).__name__}")
                break
            if not chunk:
                break
            data += chunk
            if complete_response(data):
                break
    except OSError as error:
        notes.append(f"{type(error).__name__}: {error}")
    finally:
        sock.close()
    return parse_raw(data), notes


def split_head(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return lines[0].decode("latin-1"), headers, body


def complete_response(data):
    parts = split_head(data)
    if parts is None:
        return False
    _, headers, body = parts
    if "content-length" in headers:
        try:
            return len(body) >= int(headers["content-length"])
        except ValueError:
            return False
    if "chunked" in headers.get("transfer-encoding", ""):
        return body.endswith(b"0\r\n\r\n")
    return False


def parse_raw(data):
    parts = split_head(data)
    if parts is None:
        return (data[:80].decode("latin-1") or "(nothing)"), {}, b""
    return parts


def raw_summary(parsed):
    status_line, headers, body = parsed
    nosniff = headers.get("x-content-type-options", "").lower() == "nosniff"
    try:
        envelope = json.loads(body)
        status_code = envelope["error"]["statusCode"]
        json_text = f"JSON error.statusCode={status_code} code={envelope['error'].get('code')}"
    except (ValueError, KeyError, TypeError):
        json_text = f"not a JSON error envelope ({len(body)} B body: {body[:60]!r})"
    return f"{status_line!r}; nosniff {'yes' if nosniff else 'NO'}; {json_text}"


# ---------------------------------------------------------------------------------------------
# Users and their todos.

def user(name):
    """Signs up `name.TAG@example.com` and logs in: (email, token)."""
    email = f"{name}.{TAG}@example.com"
    credentials = {"email": email, "password": PASSWORD}
    signed_up = call("POST", "/signup", credentials, timeout=30)
    if signed_up.status != 200:
        raise RuntimeError(f"signup of {email}: {signed_up.describe()}")
    logged_in = call("POST", "/users/login", credentials, timeout=30)
    body = logged_in.json()
    if logged_in.status != 200 or not isinstance(body, dict) or "token" not in body:
        raise RuntimeError(f"login of {email}: {logged_in.describe()}")
    return email, body["token"]


def seed(token, n, title, desc=None):
    conn = Conn(30)
    statuses = collections.Counter()
    body = {"title": title} if desc is None else {"title": title, "desc": desc}
    end = time.monotonic() + 60
    for _ in range(n):
        if time.monotonic() > end:
            statuses["(stopped: 60 s)"] += 1
            break
        statuses[conn.request("POST", "/todos", body, token=token).status or "error"] += 1
    conn.close()
    return statuses


def hammer(token, path, threads, seconds, max_requests=20_000):
    """`threads` connections, each sending GET `path` in a loop and reading every answer whole,
    for `seconds` (and at most `max_requests` each); returns (statuses, bytes read)."""
    statuses, total = collections.Counter(), [0]
    lock = threading.Lock()
    end = time.monotonic() + seconds

    def loop():
        conn = Conn(30)
        for _ in range(max_requests):
            if time.monotonic() > end:
                break
            answer = conn.request("GET", path, token=token)
            with lock:
                statuses[answer.status or answer.error.split(":")[0]] += 1
                total[0] += len(answer.body)
            if answer.error:
                time.sleep(0.05)
        conn.close()

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(seconds + 40)
    return statuses, total[0]


def hammer_elsewhere(*args):
    """Runs `hammer` in a child process (forked before any thread of the row starts), so the
    attackers' Python threads do not take the victim's GIL: (process, queue of its result)."""
    context = multiprocessing.get_context("fork")
    queue = context.Queue()

    def child():
        statuses, total = hammer(*args)
        queue.put((dict(statuses), total))

    process = context.Process(target=child, daemon=True)
    process.start()
    return process, queue


# ---------------------------------------------------------------------------------------------
# The rows.

def row3(ctx):
    for n, expect in ((999, 200), (1001, 400)):
        where = {"or": [{"title": f"x{i}"} for i in range(n)]}
        path = f"/todos/count?where={q(where)}"
        answer = call("GET", path, token=ctx["attacker"])
        say(f"row 3: GET /todos/count, where = or of {n} items ({len(path)} B URL) -> "
            f"{answer.describe()} (expected {expect}); {answer.elapsed * 1000:.0f} ms")


def row4(ctx):
    answer = call("POST", "/todos", {"title": "a\u0000b"}, token=ctx["attacker"])
    say(f"row 4: POST /todos title \"a\\u0000b\" -> {answer.describe()} (expected 422)")
    nul_filter = q({"where": {"title": "a\u0000b"}})
    answer = call("GET", f"/todos?filter={nul_filter}", token=ctx["attacker"])
    say(f"row 4: GET /todos filter where title \"a\\u0000b\" -> {answer.describe()} (expected 4xx)")
    answer = call("POST", "/users/token", b"grant_type=password&username=a%00b&password=x",
                  {"Content-Type": "application/x-www-form-urlencoded"})
    say(f"row 4: POST /users/token username=a%00b -> {answer.describe()} (expected 4xx, not 500)")


def row5(ctx):
    for pattern, expect in (("a{256}", "4xx"), ("\\pL", "4xx"), ("a\\z", "200"),
                            ("(?P<n>a)", "200"), ("a++", "4xx"), ("[a&&b]", "4xx")):
        answer = call("GET", f"/todos/count?where={q({'title': {'regexp': pattern}})}", token=ctx["attacker"])
        flag = "  <-- 500!" if answer.status and answer.status >= 500 else ""
        say(f"row 5: regexp {pattern!r:12} -> {answer.describe()} (expected {expect}){flag}")


def row6(ctx):
    listing = call("GET", "/todos", token=ctx["attacker6"])
    say(f"row 6: attacker's list: {listing.status}, {len(listing.body)} B; 8 connections GET /todos for 10 s")
    before = rss()
    attackers, results = hammer_elsewhere(ctx["attacker6"], "/todos", 8, 10)
    victim = Victim(ctx["victim"])
    peak = PeakRss()
    time.sleep(5)
    during = rss()
    try:
        statuses, total = results.get(timeout=50)
    except Exception as error:  # noqa: BLE001 - queue.Empty or a dead child: report it
        statuses, total = {f"no result ({type(error).__name__})": 1}, 0
    attackers.join(5)
    if attackers.is_alive():
        attackers.kill()
    victim_text = victim.stop()
    peak_value = peak.stop()
    time.sleep(3)
    say(f"row 6: attackers' answers: {counts(statuses)}; {total / 1e6:.0f} MB read")
    say(f"row 6: {victim_text} (alone: {ctx['baseline']})")
    say(f"row 6: RSS before {before} MiB, during (5 s) {during} MiB, peak {peak_value} MiB, after 3 s {rss()} MiB")


def row7(ctx):
    cases = (
        ("garbage", b"GARBAGE\r\n\r\n"),
        ("70 KB path", b"GET /" + b"a" * (70 * 1024) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        ("300 KB header", b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (300 * 1024)
         + b"\r\nConnection: close\r\n\r\n"),
    )
    for name, payload in cases:
        parsed, notes = raw_exchange(payload)
        say(f"row 7: {name} -> {raw_summary(parsed)}{'; ' + '; '.join(notes) if notes else ''}")


def row8(ctx):
    body = b"grant_type=password&username=a%40b.co&password=" + b"p" * (900 * 1024)
    answer = call("POST", "/users/token", body, {"Content-Type": "application/x-www-form-urlencoded"})
    say(f"row 8: POST /users/token with a 900 KB password ({len(body)} B form) -> {answer.describe()} "
        f"(expected 4xx); {answer.elapsed * 1000:.0f} ms")


def postgres_backends():
    """(pids, summed RSS in MiB) of the PostgreSQL backends connected to the service's database,
    or a reason it could not be found."""
    url = os.environ.get("TODO_JWT_DATABASE_URL")
    if not url:
        return None, "TODO_JWT_DATABASE_URL not set"
    try:
        result = subprocess.run(
            ["psql", url, "-Atc",
             "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"],
            capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"psql failed: {error}"
    if result.returncode != 0:
        return None, f"psql failed: {result.stderr.strip()[:200]}"
    pids = [line for line in result.stdout.split() if line.isdigit()]
    sizes = [rss_of(pid) for pid in pids]
    if any(size is None for size in sizes):
        return None, f"cannot read /proc of {len(pids)} backend(s) (not local?)"
    return (len(pids), sum(sizes)), None


def row9(ctx):
    if BACKEND != "postgres":
        say("row 9: skipped (only on PostgreSQL: prepared-statement caches per SQL shape)")
        return
    before, backends_before = rss(), postgres_backends()
    statuses = collections.Counter()
    conn = Conn(30)
    end = time.monotonic() + 60
    sent = 0
    for k in range(1, 2001):
        if time.monotonic() > end:
            break
        answer = conn.request("GET", f"/todos?filter={q({'where': {'id': {'inq': list(range(k + 1))}}})}",
                              token=ctx["attacker"])
        error = answer.json() if answer.status and answer.status >= 400 else None
        error = error.get("error") if isinstance(error, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        statuses[f"{answer.status or 'error'}" + (f" {code}" if code else "")] += 1
        sent += 1
    conn.close()
    time.sleep(1)
    after, backends_after = rss(), postgres_backends()

    def text(backends):
        value, reason = backends
        return f"{value[0]} backends {value[1]} MiB" if value else f"({reason})"
    say(f"row 9: {sent} GET /todos with inq lists of 2..{sent + 1} ids -> {counts(statuses)}")
    say(f"row 9: service RSS before {before} MiB, after {after} MiB; PostgreSQL before {text(backends_before)}, "
        f"after {text(backends_after)}")


def row10(ctx):
    listing = call("GET", "/todos", token=ctx["attacker10"], timeout=60)
    full = len(listing.body)
    say(f"row 10: attacker's list: {listing.status}, {full} B; 20 sockets (SO_RCVBUF 4096) ask for it "
        f"and do not read for 40 s")
    del listing
    time.sleep(1)
    before = rss()
    victim = Victim(ctx["victim"])
    peak = PeakRss()
    request = (f"GET /todos HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ctx['attacker10']}\r\n"
               f"Connection: close\r\n\r\n").encode()
    sockets, failed = [], 0
    for _ in range(20):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        try:
            sock.connect((HOST, PORT))
            sock.sendall(request)
            sockets.append(sock)
        except OSError:
            failed += 1
            sock.close()
    began = time.monotonic()
    time.sleep(5)
    during = rss()
    time.sleep(max(0.0, 40 - (time.monotonic() - began)))
    victim_text = victim.stop()
    peak_value = peak.stop()
    results = []
    end = time.monotonic() + 60
    for sock in sockets:
        data, note = b"", "EOF"
        sock.settimeout(5)
        while len(data) < 4 * full + 65536:
            if time.monotonic() > end:
                note = "stopped (60 s reading budget)"
                break
            try:
                chunk = sock.recv(262144)
            except socket.timeout:
                note = "timed out (5 s without data)"
                break
            except OSError as error:
                note = type(error).__name__
                break
            if not chunk:
                break
            data += chunk
        sock.close()
        parsed = split_head(data)
        body = len(parsed[2]) if parsed else 0
        status = parsed[0].split(" ", 2)[1] if parsed and " " in parsed[0] else "-"
        results.append((status, body, complete_response(data), note))
    time.sleep(3)
    after = rss()
    whole = sum(1 for result in results if result[2])
    say(f"row 10: {len(sockets)} sockets sent ({failed} failed); afterwards {whole} got the whole list, "
        f"{len(results) - whole} were cut (full body {full} B)")
    say("row 10: per socket (status, body bytes, end): "
        + "; ".join(f"{status} {body} B {note}" for status, body, _, note in results))
    say(f"row 10: {victim_text} (alone: {ctx['baseline']})")
    say(f"row 10: RSS before {before} MiB, during (5 s) {during} MiB, peak {peak_value} MiB, after 3 s {after} MiB")


def base62(i):
    digits = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    text = digits[i % 62]
    while i >= 62:
        i //= 62
        text = digits[i % 62] + text
    return text


def row11(ctx):
    # Keys `"k0"`, `"k1"`, ... would make ~1.4 MB (over the 1 MiB body limit, a plain 413):
    # short base-62 keys keep 131,000 of them just under it, so the body is parsed.
    body = ("{" + ",".join(f'"{base62(i)}":0' for i in range(131_000)) + "}").encode()
    results = []
    lock = threading.Lock()

    def post():
        answer = call("POST", "/signup", body, {"Content-Type": "application/json"}, timeout=60)
        with lock:
            results.append(answer)

    victim = Victim(ctx["victim"], "/whoAmI")
    time.sleep(1)
    began = time.monotonic()
    workers = [threading.Thread(target=post, daemon=True) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(70)
    wall = time.monotonic() - began
    time.sleep(1)
    victim_text = victim.stop()
    say(f"row 11: 2 concurrent POST /signup of {len(body)} B (131,000 unknown keys), {wall:.2f} s wall:")
    for answer in results:
        say(f"row 11:   -> {answer.describe()}; response {len(answer.body)} B in {answer.elapsed * 1000:.0f} ms")
    say(f"row 11: {victim_text} (alone: {ctx['baseline_whoami']})")


def row13(ctx):
    path = f"/todos?filter={q({'order': ['id ASC'] * 2500})}"
    answer = call("GET", path, token=ctx["attacker"])
    say(f"row 13: GET /todos, order of 2,500 \"id ASC\" ({len(path)} B URL) -> {answer.describe()} (expected 400)")


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims):
    signing = (b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode()) + "."
               + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    signature = hmac.new(SECRET.encode(), signing.encode(), hashlib.sha256).digest()
    return f"{signing}.{b64url(signature)}"


def row14(ctx):
    if not SECRET:
        say("row 14: skipped (TODO_JWT_SECRET not set)")
        return
    who = call("GET", "/whoAmI", token=ctx["attacker"])
    middle = ctx["attacker"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(middle + "=" * (-len(middle) % 4)))
    say(f"row 14: attacker's id {who.body.decode(errors='replace')!r} ({who.status}); "
        f"its token's claims: {sorted(claims)}; sub == id: {claims.get('sub') == who.body.decode(errors='replace')}")
    now = int(time.time())
    cases = (
        ("control: re-signed, iat now, exp +1 h", now, now + 3600, "200"),
        ("iat one hour in the future", now + 3600, now + 3600 + 21_600, "401"),
        ("exp - iat = 30 days", now, now + 30 * 86_400, "401"),
    )
    for name, iat, exp, expect in cases:
        answer = call("GET", "/whoAmI", token=mint(dict(claims, iat=iat, exp=exp)))
        say(f"row 14: minted token, {name} -> {answer.describe()} (expected {expect})")


def row15(ctx):
    try:
        entries = [DATA_DIR] + [os.path.join(DATA_DIR, name) for name in sorted(os.listdir(DATA_DIR))]
    except OSError as error:
        say(f"row 15: cannot list {DATA_DIR}: {error}")
        return
    for path in entries:
        try:
            info = os.lstat(path)
        except OSError as error:
            say(f"row 15: {path}: {error}")
            continue
        mode = stat.S_IMODE(info.st_mode)
        kind = "dir " if stat.S_ISDIR(info.st_mode) else "file"
        expected = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        flag = "" if mode & ~expected == 0 else f"  <-- wider than {expected:04o}"
        say(f"row 15: {kind} {oct(mode)[2:].zfill(4)} {path}{flag}")


def row16(ctx):
    sent = "a" * 60_000
    answer = call("GET", "/", headers={"x-request-id": sent})
    got = answer.headers.get("x-request-id")
    say(f"row 16: GET / with a 60,000 B x-request-id -> {answer.describe()}; response x-request-id "
        f"{'equals what was sent (BAD)' if got == sent else 'differs'}, {len(got) if got is not None else 'absent'} B"
        f"{': ' + repr(got[:40]) if got and len(got) <= 64 else ''}")
    raw_id = b"ab\xff\xfecd"
    parsed, notes = raw_exchange(b"GET / HTTP/1.1\r\nHost: x\r\nx-request-id: " + raw_id
                                 + b"\r\nConnection: close\r\n\r\n")
    status_line, headers, _ = parsed
    got = headers.get("x-request-id")
    say(f"row 16: GET / with x-request-id {raw_id!r} -> {status_line!r}; response x-request-id "
        f"{'equals what was sent (BAD)' if got is not None and got.encode('latin-1') == raw_id else 'differs'}, "
        f"{len(got) if got is not None else 'absent'} B{': ' + repr(got) if got else ''}"
        f"{'; ' + '; '.join(notes) if notes else ''}")


def row17(ctx):
    answer = call("POST", "/users/token", b"grant_type=password&username=a@b.co&password=x",
                  {"Content-Type": "text/plain"})
    say(f"row 17: POST /users/token as text/plain -> {answer.describe()} (expected 415)")
    local = f"kim.{TAG}"
    signed_up = call("POST", "/signup", {"email": f"{local}@example.com", "password": PASSWORD})
    say(f"row 17: signup {local}@example.com -> {signed_up.status}")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for name, username, expect in (("control, ASCII 'Kim'", f"Kim.{TAG}@example.com", "200"),
                                   ("Kelvin sign U+212A for K", f"\u212aim.{TAG}@example.com", "4xx")):
        body = urllib.parse.urlencode({"grant_type": "password", "username": username, "password": PASSWORD})
        answer = call("POST", "/users/token", body.encode(), form)
        say(f"row 17: POST /users/token, {name} -> {answer.describe()} (expected {expect})")


ROWS = (("3", row3), ("4", row4), ("5", row5), ("6", row6), ("7", row7), ("8", row8), ("9", row9),
        ("10", row10), ("11", row11), ("13", row13), ("14", row14), ("15", row15), ("16", row16),
        ("17", row17))


def main():
    say(f"hostile rows of issue 10 against {BASE} (pid {PID}, backend {BACKEND}, data {DATA_DIR}); "
        f"RSS {rss()} MiB; rows 1 and 12 are hostile.sh's own measurement")
    ctx = {}
    try:
        ctx["victim_email"], ctx["victim"] = user("rows-victim")
        ctx["victim_seeded"] = seed(ctx["victim"], 20, "a small todo", "something to do")
        _, ctx["attacker"] = user("rows-attacker")
        _, ctx["attacker6"] = user("rows-attacker6")
        ctx["attacker6_seeded"] = seed(ctx["attacker6"], 60, "A" * 2000, "B" * 20_000)
        _, ctx["attacker10"] = user("rows-attacker10")
        ctx["attacker10_seeded"] = seed(ctx["attacker10"], 300, "A" * 2000, "B" * 20_000)
    except Exception as error:  # noqa: BLE001 - report and stop: the rows need these users
        say(f"setup failed: {error}")
        return 1
    say(f"setup: victim's 20 todos ({counts(ctx['victim_seeded'])}); attacker 6's 60 todos of 22 KB "
        f"({counts(ctx['attacker6_seeded'])}); attacker 10's 300 todos of 22 KB "
        f"({counts(ctx['attacker10_seeded'])}); RSS {rss()} MiB; {time.monotonic() - STARTED:.0f} s")
    ctx["baseline"] = Victim.measure(ctx["victim"], 3)
    ctx["baseline_whoami"] = Victim.measure(ctx["victim"], 2, "/whoAmI")
    say(f"baseline, alone: {ctx['baseline']}")
    say(f"baseline, alone: {ctx['baseline_whoami']}")
    for number, row in ROWS:
        began = time.monotonic()
        try:
            row(ctx)
        except Exception:  # noqa: BLE001 - an unexpected answer must not stop the other rows
            say(f"row {number}: the script failed: "
                + " | ".join(traceback.format_exc().strip().splitlines()[-3:]))
        if time.monotonic() - began > 15:
            say(f"row {number}: took {time.monotonic() - began:.0f} s")
        if rss() is None:
            say(f"row {number}: the server (pid {PID}) is gone; stopping")
            return 1
    say(f"done in {time.monotonic() - STARTED:.0f} s; RSS {rss()} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The mixed load of bench/cluster.py: clients, each from an address of its own, reading and
writing their todos, refreshing their session and logging in, through the load balancer;
every answer is counted under the scenario (phase) it was given in."""

import collections
import http.client
import json
import random
import threading
import time

PASSWORD = "cluster-Load-7f3a-pass"


class Tally:
    """The answers per phase: how many were 2xx, 503 with Retry-After, and the others."""

    def __init__(self):
        self.lock = threading.Lock()
        self.phase = "setup"
        self.ok = collections.Counter()
        self.unavailable = collections.Counter()
        self.failed = collections.defaultdict(list)
        self.last_failure = {}

    def record(self, phase, kind, status, retry_after, code):
        """One answer, counted under the phase its request was sent in."""
        with self.lock:
            if 200 <= status < 300:
                self.ok[phase] += 1
            elif status == 503 and retry_after:
                self.unavailable[phase] += 1
                self.last_failure[phase] = time.monotonic()
            else:
                self.failed[phase].append((round(time.monotonic(), 2), kind, status, code))
                self.last_failure[phase] = time.monotonic()

    def set_phase(self, phase):
        with self.lock:
            self.phase = phase


def request(connection, method, path, body=None, token=None, headers=None):
    """(status, headers, parsed body or None) of one request on a kept-alive connection."""
    sent = dict(headers or {})
    if body is not None:
        sent["Content-Type"] = "application/json"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    connection.request(method, path, body=None if body is None else json.dumps(body),
                       headers=sent)
    response = connection.getresponse()
    data = response.read()
    try:
        parsed = json.loads(data) if data else None
    except ValueError:
        parsed = None
    return response.status, response, parsed


def code_of(parsed):
    if isinstance(parsed, dict) and isinstance(parsed.get("error"), dict):
        return parsed["error"].get("code") or parsed["error"].get("name")
    return None


class Client(threading.Thread):
    """One user on one client address (127.0.0.N), looping over a mix of requests."""

    def __init__(self, number, port, tally, stop, run_id):
        super().__init__(daemon=True)
        self.address = f"127.0.0.{10 + number}"
        self.port, self.tally, self.stop = port, tally, stop
        self.email = f"load{number}-{run_id}@example.com"
        self.random = random.Random(number)
        self.connection = None
        self.todos = []
        self.last_refresh = self.last_login = time.monotonic()

    def connect(self):
        if self.connection:
            self.connection.close()
        self.connection = http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=15, source_address=(self.address, 0))

    def call(self, kind, method, path, body=None, token=True):
        """One counted request; a broken connection counts as status 0."""
        phase = self.tally.phase
        try:
            status, response, parsed = request(self.connection, method, path, body,
                                               self.access if token else None)
            retry_after = response.getheader("Retry-After")
        except (OSError, http.client.HTTPException) as error:
            status, parsed, retry_after = 0, {"error": {"code": type(error).__name__}}, None
            self.connect()
        self.tally.record(phase, kind, status, retry_after, code_of(parsed))
        return status, parsed

    def set_up(self):
        """Signs up, logs in with a refresh token, and makes 20 todos (not counted)."""
        self.connect()
        account = {"email": self.email, "password": PASSWORD}
        status, _, _ = request(self.connection, "POST", "/signup", account)
        assert status == 200, f"signup of {self.email}: {status}"
        status, _, tokens = request(self.connection, "POST", "/users/refresh-login", account)
        assert status == 200, f"refresh-login: {status}"
        self.access, self.refresh = tokens["accessToken"], tokens["refreshToken"]
        for i in range(20):
            status, _, todo = request(self.connection, "POST", "/todos",
                                      {"title": f"todo {i}"}, self.access)
            assert status == 200, f"POST /todos: {status}"
            self.todos.append(todo["id"])

    def step(self):
        now = time.monotonic()
        if now - self.last_refresh > 3:
            # At most 20 refreshes and 4 logins a minute per address: under the default
            # per-address limit (60 a minute), so the load itself is never refused.
            self.last_refresh = now
            status, tokens = self.call("refresh", "POST", "/refresh",
                                       {"refreshToken": self.refresh}, token=False)
            if status == 200:
                self.access, self.refresh = tokens["accessToken"], tokens["refreshToken"]
            return
        if now - self.last_login > 15:
            self.last_login = now
            self.call("login", "POST", "/users/login",
                      {"email": self.email, "password": PASSWORD}, token=False)
            return
        draw = self.random.random()
        if draw < 0.45:
            self.call("list", "GET", "/todos")
        elif draw < 0.65:
            self.call("whoAmI", "GET", "/whoAmI")
        elif draw < 0.85:
            status, todo = self.call("create", "POST", "/todos", {"title": "passing"})
            if status == 200:
                self.call("delete", "DELETE", f"/todos/{todo['id']}")
        else:
            todo = self.random.choice(self.todos)
            self.call("patch", "PATCH", f"/todos/{todo}",
                      {"isComplete": self.random.random() < 0.5})

    def run(self):
        while not self.stop.is_set():
            self.step()
            # A pause between requests keeps the two cores from saturating, so that the
            # health checks answer within their timeout.
            time.sleep(0.01)
        self.connection.close()


def start(clients, port, run_id):
    """Starts `clients` clients once each has set up; answers (tally, stop event, threads)."""
    tally, stop = Tally(), threading.Event()
    threads = [Client(n, port, tally, stop, run_id) for n in range(clients)]
    for thread in threads:
        thread.set_up()
    tally.set_phase("warm-up")
    for thread in threads:
        thread.start()
    return tally, stop, threads

"""Three todo-jwt instances behind HAProxy, through PgBouncer, on one PostgreSQL, under a
mixed load; four scenarios, each counted. Run by bench/cluster.sh (which installs what it
needs and builds the binary):

    python3 bench/cluster.py --server target/release/todo-jwt --work DIR

Ends with "N passed, M failed" and exits 1 if a scenario failed."""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import traceback

import cluster_load
import cluster_parts as parts
from cluster_load import code_of, request

CLIENTS = 6


def connection(port, address):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=15,
                                      source_address=(address, 0))


class Cluster:
    def __init__(self, server, work):
        self.server, self.work = server, work
        self.closing = []
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self):
        server, work = self.server, self.work
        self.postgres = parts.Postgres(os.path.join(work, "postgres"))
        self.closing.append(self.postgres)
        self.pgbouncer = parts.pgbouncer(work, self.postgres)
        self.closing.append(self.pgbouncer)
        url = f"postgres://postgres@127.0.0.1:{self.pgbouncer.port}/todo?pooler=transaction"
        user = parts.unit_settings()[0]["User"]
        parts.ensure_user(user)
        self.env_path = parts.instance_env(work, url, {
            # Other instances' rotations are seen within two seconds (10 by default).
            "TODO_JWT_KEYS_RELOAD_INTERVAL": "2",
        })
        self.instances = []
        for n in range(1, 4):
            instance = parts.Instance(f"app{n}", work, server, self.env_path)
            self.closing.append(instance)
            self.instances.append(instance)
        self.haproxy = parts.Haproxy(work, self.instances)
        self.closing.append(self.haproxy)

    def close(self):
        for part in reversed(self.closing):
            part.close()

    def wait_in_rotation(self, count=3, timeout=30):
        parts.wait_until(f"{count} instances in HAProxy's rotation",
                         lambda: len(self.haproxy.up()) == count, timeout=timeout)


def unit_checks(cluster):
    """deploy/todo-jwt.service is a valid unit (`systemd-analyze verify`, with the binary under
    test as its program) whose sandbox systemd rates at most 2.0 ("OK") on its 0-10 exposure
    scale. Systemd is not PID 1 here, so the sandbox itself is not exercised; the user, the
    environment, the no-new-privileges bit and the stop signal are (see Instance)."""
    unit = os.path.join(cluster.work, "todo-jwt.service")
    with open(os.path.join(parts.DEPLOY, "todo-jwt.service")) as f:
        text = f.read()
    with open(unit, "w") as f:
        f.write("\n".join(f"ExecStart={cluster.server}" if line.startswith("ExecStart=")
                           else line for line in text.splitlines()) + "\n")
    verify = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True)
    security = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--threshold=20",
                               unit], capture_output=True, text=True)
    overall = [line for line in security.stdout.splitlines() if "Overall exposure" in line]
    return verdict("systemd unit", verify.returncode == 0 and not verify.stderr.strip()
                   and security.returncode == 0,
                   f"systemd-analyze verify: exit {verify.returncode} {verify.stderr.strip()!r}; "
                   f"security: {overall[0].split(': ', 1)[-1].encode('ascii', 'ignore').decode().strip() if overall else security.stderr.strip()}"
                   f" (at most 2.0 allowed)")


def verdict(name, passed, detail):
    print(f"{'PASS' if passed else 'FAIL'} {name}: {detail}", flush=True)
    return passed


def failures_of(tally, phase):
    return tally.failed.get(phase, [])


def rolling_restart(cluster, tally):
    """Each instance in turn: SIGTERM (the unit's KillSignal), its exit, a start, back in
    rotation. Every answer must be 2xx."""
    tally.set_phase("rolling restart")
    started = time.monotonic()
    codes = []
    for instance in cluster.instances:
        codes.append(instance.stop())
        instance.start()
        instance.wait_ready()
        cluster.wait_in_rotation()
    tally.set_phase("between")
    phase = "rolling restart"
    failed = failures_of(tally, phase) + [("503",)] * tally.unavailable[phase]
    return verdict(phase, not failed and codes == [0, 0, 0],
                   f"3 instances restarted one at a time in {time.monotonic() - started:.0f} s "
                   f"(exit codes {codes}); {tally.ok[phase]} requests answered 2xx, "
                   f"{len(failed)} failed {failures_of(tally, phase)[:5]}")


def kill_one(cluster, tally):
    """SIGKILL of one instance: only the requests in flight on it may fail (each client has
    one request at a time, so at most CLIENTS); the others carry on."""
    victim = cluster.instances[1]
    tally.set_phase("kill -9")
    # The requests sent before this phase have finished before the kill.
    time.sleep(0.5)
    victim.signal(signal.SIGKILL)
    victim.wait(5)
    killed = time.monotonic()
    time.sleep(4)
    ok_after = tally.ok["kill -9"]
    tally.set_phase("after kill -9")
    time.sleep(2)
    victim.start()
    victim.wait_ready()
    cluster.wait_in_rotation()
    tally.set_phase("between")
    failed = failures_of(tally, "kill -9") + failures_of(tally, "after kill -9")
    late = [f for f in failed if f[0] > killed + 2.5]
    # A 503 with Retry-After is a failed request too: HAProxy's answer when it could not
    # reach the killed instance (no retry on another one).
    unavailable = tally.unavailable["kill -9"] + tally.unavailable["after kill -9"]
    return verdict("kill -9", len(failed) <= CLIENTS and not unavailable and not late
                   and ok_after > 0,
                   f"{len(failed)} requests failed (at most {CLIENTS} may: one in flight per "
                   f"client) {failed[:5]}, {unavailable} answered 503; "
                   f"{ok_after + tally.ok['after kill -9']} answered 2xx "
                   f"in the 6 s after; the instance back in rotation")


def database_restart(cluster, tally):
    """PostgreSQL stopped for 8 s and started again: while it is down, only 503 with
    Retry-After (or 2xx); full service within seconds after; never a 500.

    Longer than PgBouncer's `query_wait_timeout` (5 s in deploy/pgbouncer.ini): a request
    that reached PgBouncer just after the stop waits there that long before its 503. With an
    outage of 5 s, such requests were sometimes served once PostgreSQL was back, and no 503
    was seen while it was down (CI saw it once)."""
    tally.set_phase("database down")
    time.sleep(0.5)
    cluster.postgres.stop()
    time.sleep(8)
    tally.set_phase("database back")
    back = time.monotonic()
    cluster.postgres.start()
    cluster.wait_in_rotation(timeout=30)
    in_rotation = time.monotonic() - back
    tally.set_phase("after database")
    time.sleep(3)
    tally.set_phase("between")
    wrong = (failures_of(tally, "database down") + failures_of(tally, "database back")
             + failures_of(tally, "after database"))
    unavailable_after = tally.unavailable["after database"]
    last = tally.last_failure.get("database back")
    recovered = f"{last - back:.1f} s" if last else "at once"
    return verdict(
        "database restart",
        # The outage was seen (503s for requests sent while it lasted), and nothing else.
        not wrong and tally.unavailable["database down"] > 0 and unavailable_after == 0
        and in_rotation < 15,
        f"sent from 0.5 s before the stop until the start: "
        f"{tally.unavailable['database down']} answered 503 with Retry-After, "
        f"{tally.ok['database down']} 2xx; after the start: the last 503 {recovered} later, "
        f"all instances in rotation after {in_rotation:.1f} s, then "
        f"{tally.ok['after database']} 2xx and {unavailable_after} 503 in 3 s; "
        f"{len(wrong)} other answers {wrong[:5]}")


def lockout(cluster):
    """Wrong passwords for one account, spread over the three instances, lock it on all."""
    email = f"locked-{secrets.token_hex(4)}@example.com"
    first = connection(cluster.instances[0].port, "127.0.0.200")
    assert request(first, "POST", "/signup", {"email": email, "password": "Right-pass-42x"})[0] == 200
    statuses = []
    for attempt in range(10):
        instance = cluster.instances[attempt % 3]
        statuses.append(request(connection(instance.port, "127.0.0.200"), "POST",
                                "/users/login", {"email": email, "password": "Wrong-pass-42x"})[0])
    after = [request(connection(i.port, "127.0.0.200"), "POST", "/users/login",
                     {"email": email, "password": "Right-pass-42x"})[0]
             for i in cluster.instances]
    return verdict("lockout across instances", statuses == [401] * 10 and after == [429] * 3,
                   f"10 wrong passwords over 3 instances: {statuses.count(401)} x 401; then "
                   f"the right one on each: {after}")


def per_address(cluster):
    """Through HAProxy, the per-address limit counts the client's address: one address is
    refused after 60 attempts (the default), another is not. The first one names a new
    address in X-Forwarded-For each time: HAProxy drops it, so it dodges nothing."""
    lb = cluster.haproxy.port
    statuses = []
    for n in range(65):
        status = request(connection(lb, "127.0.0.201"), "POST", "/users/login",
                         {"email": f"nobody-{secrets.token_hex(4)}@example.com",
                          "password": "Wrong-pass-42x"},
                         headers={"X-Forwarded-For": f"203.0.113.{n}"})[0]
        statuses.append(status)
    other = request(connection(lb, "127.0.0.202"), "POST", "/users/login",
                    {"email": f"nobody-{secrets.token_hex(4)}@example.com",
                     "password": "Wrong-pass-42x"})[0]
    first_429 = statuses.index(429) + 1 if 429 in statuses else None
    return verdict("per-address limit through HAProxy",
                   statuses[:60] == [401] * 60 and set(statuses[60:]) == {429} and other == 401,
                   f"127.0.0.201 (a new X-Forwarded-For each time): attempts 1-60 {sorted(set(statuses[:60]))}, first 429 at "
                   f"attempt {first_429}; 127.0.0.202 meanwhile: {other}")


def connection_cap(cluster):
    """One address cannot hold more than 128 of HAProxy's connections (the instances exempt
    their trusted proxy from their own per-address cap): of 160 connections opened from one
    address and kept, at most 128 get an answer, while another address is served."""
    held, refused, answered = [], 0, 0
    try:
        for _ in range(160):
            try:
                held.append(socket.create_connection(("127.0.0.1", cluster.haproxy.port), 5,
                                                     source_address=("127.0.0.205", 0)))
            except OSError:
                refused += 1  # reset before connect() returned: refused as well
        time.sleep(0.5)
        for held_socket in held:
            held_socket.settimeout(2)
            try:
                held_socket.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if held_socket.recv(1024).startswith(b"HTTP/1.1 200"):
                    answered += 1
            except OSError:
                pass
        other = request(connection(cluster.haproxy.port, "127.0.0.206"), "GET", "/healthz")[0]
    finally:
        for held_socket in held:
            held_socket.close()
    return verdict("connections per address", 100 <= answered <= 128 and other == 200,
                   f"160 connections opened and kept from 127.0.0.205: {answered} answered, "
                   f"the others closed ({refused} at once); 127.0.0.206 meanwhile: {other}")


def logout(cluster):
    """A logout on one instance ends the session on the other two within their one-second
    cache."""
    email = f"logout-{secrets.token_hex(4)}@example.com"
    account = {"email": email, "password": "Right-pass-42x"}
    lb = connection(cluster.haproxy.port, "127.0.0.203")
    assert request(lb, "POST", "/signup", account)[0] == 200
    token = request(lb, "POST", "/users/login", account)[2]["token"]
    before = [request(connection(i.port, "127.0.0.203"), "GET", "/whoAmI", token=token)[0]
              for i in cluster.instances]
    status = request(connection(cluster.instances[0].port, "127.0.0.203"), "POST",
                     "/users/logout", token=token)[0]
    started = time.monotonic()
    ended = {}
    while len(ended) < 3 and time.monotonic() - started < 5:
        for i in cluster.instances:
            if i.name not in ended:
                got, _, body = request(connection(i.port, "127.0.0.203"), "GET", "/whoAmI",
                                       token=token)
                if got == 401 and code_of(body) == "SESSION_ENDED":
                    ended[i.name] = time.monotonic() - started
        time.sleep(0.1)
    slowest = max(ended.values()) if len(ended) == 3 else None
    return verdict("logout across instances",
                   before == [200] * 3 and status == 204 and slowest is not None and slowest < 2,
                   f"whoAmI before: {before}; logout on app1: {status}; 401 SESSION_ENDED on "
                   f"{len(ended)} of 3, the last after "
                   f"{'%.1f s' % slowest if slowest is not None else 'never'}")


def key_rotation(cluster):
    """`todo-jwt rotate-keys` on the shared database: every instance publishes the new key,
    signs with it once it is active, and accepts the others' tokens signed with it. The
    activation delay (4 s) is longer than the instances' reload interval (2 s), as the README
    asks, so that no instance meets a token of a key it has not read yet: the load's requests
    meanwhile must all succeed."""
    def kids(instance):
        return {key["kid"] for key in json.loads(parts.get(instance.url("/.well-known/jwks.json"))[1])["keys"]}

    before = kids(cluster.instances[0])
    env = dict(parts.env_file(cluster.env_path), PATH=os.environ["PATH"],
               TODO_JWT_KEY_ACTIVATION_DELAY="4")
    rotated_at = time.monotonic()
    rotated = subprocess.run([cluster.server, "rotate-keys"], env=env, capture_output=True,
                             text=True)
    new = set()
    started = time.monotonic()
    while time.monotonic() - started < 10:
        published = [kids(i) - before for i in cluster.instances]
        if all(published) and len(set.union(*published)) == 1:
            new = published[0]
            break
        time.sleep(0.2)
    seen_after = time.monotonic() - started
    email = f"keys-{secrets.token_hex(4)}@example.com"
    account = {"email": email, "password": "Right-pass-42x"}
    assert request(connection(cluster.haproxy.port, "127.0.0.204"), "POST", "/signup",
                   account)[0] == 200
    signed, accepted = [], []
    # Signed with from its activation on.
    time.sleep(max(0.0, rotated_at + 4.5 - time.monotonic()))
    for n, instance in enumerate(cluster.instances):
        token = request(connection(instance.port, "127.0.0.204"), "POST", "/users/login",
                        account)[2]["token"]
        signed.append(parts.kid_of(token) in new)
        other = cluster.instances[(n + 1) % 3]
        accepted.append(request(connection(other.port, "127.0.0.204"), "GET", "/whoAmI",
                                token=token)[0])
    return verdict("key rotation across instances",
                   rotated.returncode == 0 and len(new) == 1 and all(signed)
                   and accepted == [200] * 3,
                   f"rotate-keys exit {rotated.returncode}; the new key published by all 3 "
                   f"after {seen_after:.1f} s; tokens signed with it: {signed.count(True)} of 3; "
                   f"accepted by another instance: {accepted}")


def main():
    arguments = argparse.ArgumentParser()
    arguments.add_argument("--server", required=True)
    arguments.add_argument("--work", required=True)
    options = arguments.parse_args()
    cluster = Cluster(os.path.abspath(options.server), options.work)
    results = []
    try:
        print(f"PostgreSQL on {cluster.postgres.port}, PgBouncer on {cluster.pgbouncer.port}, "
              f"instances on {[i.port for i in cluster.instances]}, HAProxy on "
              f"{cluster.haproxy.port}; {CLIENTS} clients", flush=True)
        results.append(unit_checks(cluster))
        tally, stop, threads = cluster_load.start(CLIENTS, cluster.haproxy.port,
                                                  secrets.token_hex(4))
        time.sleep(3)
        for scenario in (rolling_restart, kill_one, database_restart):
            results.append(scenario(cluster, tally))
            time.sleep(2)
        for scenario in (lockout, per_address, connection_cap, logout, key_rotation):
            results.append(scenario(cluster))
        # A client thread that died (an unexpected exception) would have shrunk the load.
        alive = sum(thread.is_alive() for thread in threads)
        stop.set()
        for thread in threads:
            thread.join(20)
        results.append(verdict("load clients", alive == CLIENTS,
                               f"{alive} of {CLIENTS} still running at the end"))
        between = failures_of(tally, "between") + failures_of(tally, "warm-up")
        unavailable = tally.unavailable["between"] + tally.unavailable["warm-up"]
        results.append(verdict("steady load between scenarios", not between and not unavailable,
                               f"{tally.ok['between'] + tally.ok['warm-up']} answered 2xx, "
                               f"{unavailable} answered 503, "
                               f"{len(between)} failed {between[:5]}"))
    except Exception as error:  # a scenario that could not run is a failure, said as such
        where = traceback.extract_tb(error.__traceback__)[-3:]
        results.append(verdict("run", False, f"{type(error).__name__}: {error} at "
                               f"{[(frame.name, frame.lineno) for frame in where]}"))
    finally:
        cluster.close()
    passed = results.count(True)
    print(f"{passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()

"""The processes of bench/cluster.py: its own PostgreSQL, PgBouncer, HAProxy and todo-jwt
instances, each started from the files in deploy/ and stopped at the end."""

import base64
import glob
import json
import os
import pwd
import shlex
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEPLOY = os.path.join(ROOT, "deploy")

def newest_postgres():
    """The bin directory of the newest PostgreSQL server installed (Debian's layout)."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not found:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql")
    return os.path.dirname(max(found, key=lambda path: int(path.split("/")[4])))


PG_BIN = newest_postgres()
AS_ROOT = os.geteuid() == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, check, timeout=30.0, every=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(every)
    raise RuntimeError(f"timed out waiting for {what}")


def get(url, timeout=2.0):
    """(status, body) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def as_user(user, argv):
    """argv run as `user` (when this script is root), with no way to gain privileges."""
    if not AS_ROOT:
        return argv
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups",
            "--no-new-privs", "--"] + argv


def give(path, user):
    if AS_ROOT:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


class Postgres:
    """A PostgreSQL server of its own in `directory`, on a free port."""

    def __init__(self, directory):
        self.directory = directory
        self.data = os.path.join(directory, "data")
        self.port = free_port()
        os.makedirs(directory, exist_ok=True)
        give(directory, "postgres")
        self._run([f"{PG_BIN}/initdb", "-D", self.data, "-A", "trust", "-U", "postgres",
                   "--no-sync"])
        self.start()
        self._run([f"{PG_BIN}/createdb", "-h", "127.0.0.1", "-p", str(self.port),
                   "-U", "postgres", "todo"])

    def _run(self, argv):
        subprocess.run(as_user("postgres", argv), check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def start(self):
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-o", options, "-l",
                   os.path.join(self.directory, "log"), "-w", "start"])

    def stop(self):
        self._run([f"{PG_BIN}/pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop"])

    def close(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass


class Child:
    """A process of ours, its output in `log`."""

    def __init__(self, argv, log, env=None):
        self.argv, self.log_path, self.env = argv, log, env
        self.process = None
        self.start()

    def start(self):
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv, stdout=log, stderr=log, env=self.env,
                                        start_new_session=True)
        log.close()

    def alive(self):
        """True while it runs; an exception naming its log once it has exited."""
        if self.process.poll() is None:
            return True
        with open(self.log_path, errors="replace") as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{self.argv[0]} exited ({self.process.returncode}): {tail}")

    def signal(self, number):
        if self.process.poll() is None:
            os.killpg(self.process.pid, number)

    def wait(self, timeout):
        return self.process.wait(timeout=timeout)

    def close(self):
        if self.process and self.process.poll() is None:
            self.signal(signal.SIGKILL)
            self.process.wait()


def pgbouncer(directory, postgres):
    """PgBouncer with deploy/pgbouncer.ini, pointed at `postgres`, on a free port."""
    port = free_port()
    users = os.path.join(directory, "users.txt")
    with open(users, "w") as f:
        f.write('"postgres" ""\n')
    ini = os.path.join(directory, "pgbouncer.ini")
    # deploy/pgbouncer.ini with what differs here: this test's server, port, files, and trust
    # authentication (PgBouncer 1.18 ignores an %include before the first section).
    overrides = {
        "todo": f"host=127.0.0.1 port={postgres.port} dbname=todo",
        "listen_addr": "127.0.0.1",
        "listen_port": str(port),
        "unix_socket_dir": "",
        "auth_type": "trust",
        "auth_file": users,
        "logfile": "",
        "pidfile": "",
    }
    lines = []
    with open(os.path.join(DEPLOY, "pgbouncer.ini")) as f:
        for line in f:
            key = line.split("=")[0].strip()
            if "=" in line and not line.startswith(";") and key in overrides:
                line = f"{key} = {overrides.pop(key)}\n"
            lines.append(line)
    if overrides:
        raise RuntimeError(f"deploy/pgbouncer.ini lacks {sorted(overrides)}")
    with open(ini, "w") as f:
        f.writelines(lines)
    argv = ["pgbouncer"] + (["-u", "postgres"] if AS_ROOT else []) + [ini]
    child = Child(argv, os.path.join(directory, "pgbouncer.log"))
    wait_until("PgBouncer", lambda: socket.create_connection(("127.0.0.1", port), 0.2).close()
               or True, timeout=10)
    child.port = port
    return child


class Haproxy(Child):
    """HAProxy with deploy/haproxy.cfg in front of `instances`."""

    def __init__(self, directory, instances):
        self.port, self.stats_port = free_port(), free_port()
        env = dict(os.environ, TODO_LB_BIND=f"127.0.0.1:{self.port}",
                   TODO_LB_STATS=f"127.0.0.1:{self.stats_port}")
        for i, instance in enumerate(instances, 1):
            env[f"TODO_APP{i}"] = f"127.0.0.1:{instance.port}"
        config = os.path.join(DEPLOY, "haproxy.cfg")
        if not AS_ROOT:
            # Only root can chroot and change user: a copy without those lines.
            with open(config) as f:
                lines = [line for line in f
                         if line.split()[:1] not in (["chroot"], ["user"], ["group"])]
            config = os.path.join(directory, "haproxy.cfg")
            with open(config, "w") as f:
                f.writelines(lines)
        super().__init__(["haproxy", "-db", "-f", config],
                         os.path.join(directory, "haproxy.log"), env)
        wait_until("HAProxy", lambda: self.alive() and len(self.up()) == len(instances),
                   timeout=20)

    def up(self):
        """The names of the servers HAProxy has in rotation."""
        status, body = get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=1)
        rows = body.decode().splitlines()
        names = rows[0].lstrip("# ").split(",")
        up = set()
        for row in rows[1:]:
            fields = dict(zip(names, row.split(",")))
            if fields.get("pxname") == "todo_jwt" and fields.get("svname", "").startswith("app") \
                    and fields.get("status") == "UP":
                up.add(fields["svname"])
        return up


def unit_settings():
    """What deploy/todo-jwt.service says: its single-valued keys, and its Environment= list."""
    settings, environment = {}, []
    with open(os.path.join(DEPLOY, "todo-jwt.service")) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith(("#", "[")):
                continue
            key, _, value = line.partition("=")
            if key == "Environment":
                environment.append(value)
            else:
                settings[key] = value
    return settings, environment


def env_file(path):
    """The variables of an EnvironmentFile (KEY=value lines; # comments)."""
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                key, _, value = line.partition("=")
                values[key] = value
    return values


class Instance(Child):
    """One todo-jwt instance, started the way deploy/todo-jwt.service starts it: as its
    User, with its Environment and EnvironmentFile (this test's copy of
    deploy/todo-jwt.env), by its ExecStart with the binary under test, stopped by its
    KillSignal within its TimeoutStopSec."""

    def __init__(self, name, directory, server, env_path):
        settings, environment = unit_settings()
        self.name, self.port = name, free_port()
        self.user = settings["User"]
        self.kill_signal = getattr(signal, settings["KillSignal"])
        self.stop_timeout = float(settings["TimeoutStopSec"])
        self.state = os.path.join(directory, name)
        os.makedirs(self.state, exist_ok=True)
        os.chmod(self.state, 0o750)
        give(self.state, self.user)
        env = {"PATH": os.environ["PATH"]}
        for assignment in environment:
            key, _, value = assignment.partition("=")
            env[key] = value
        env.update(env_file(env_path))
        # The StateDirectory and the port differ between the instances on this machine.
        env["TODO_JWT_DATA_DIR"] = self.state
        env["TODO_JWT_PORT"] = str(self.port)
        program, *arguments = shlex.split(settings["ExecStart"])
        argv = as_user(self.user, [server] + arguments)
        super().__init__(argv, os.path.join(directory, f"{name}.log"), env)
        self.wait_ready()

    def url(self, path=""):
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_ready(self, timeout=30):
        wait_until(f"{self.name} ready",
                   lambda: self.alive() and get(self.url("/readyz"), 1)[0] == 200,
                   timeout=timeout)

    def stop(self):
        """Stops it as systemd would: KillSignal, then waits up to TimeoutStopSec."""
        self.signal(self.kill_signal)
        return self.wait(self.stop_timeout)


def ensure_user(name):
    if not AS_ROOT:
        return
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], check=True)


def instance_env(directory, database_url, extra):
    """This test's copy of deploy/todo-jwt.env: the same variables, with this machine's
    values."""
    values = env_file(os.path.join(DEPLOY, "todo-jwt.env"))
    values.update({
        "TODO_JWT_SECRET": os.urandom(32).hex(),
        "TODO_JWT_DATABASE_URL": database_url,
        "TODO_JWT_HOST": "127.0.0.1",
        "TODO_JWT_TRUSTED_PROXIES": "127.0.0.1",
        "TODO_JWT_PUBLIC_URL": "http://127.0.0.1",
    })
    values.update(extra)
    path = os.path.join(directory, "todo-jwt.env")
    with open(path, "w") as f:
        for key, value in values.items():
            f.write(f"{key}={value}\n")
    os.chmod(path, 0o600)
    return path


def kid_of(token):
    """The `kid` in a JWT's header."""
    header = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]


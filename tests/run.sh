#!/usr/bin/env bash
# The test command:
#   1. every Rust test on SQLite (unit, property and black-box HTTP tests);
#   2. the HTTP suite again on PostgreSQL (each test creates and drops its own database), with
#      the PostgreSQL-only tests;
#   3. the HTTP suite once more on PostgreSQL through PgBouncer in transaction pooling mode
#      (tests/pgbouncer.sh installs and starts it);
#   4. the end-to-end checks (OpenAPI validity, the explorer in headless Chromium, schemathesis);
#   5. the deployment kit (bench/cluster.sh): three instances behind HAProxy, through
#      PgBouncer, on a PostgreSQL server of its own, under load: a rolling restart, kill -9,
#      a database restart, and the limits across instances.
# Installs or starts what it needs. PostgreSQL: the server at 127.0.0.1:5432 (user postgres,
# trust auth), or TODO_JWT_TEST_POSTGRES_URL; it is started with pg_ctlcluster when it is down.
# Where no PostgreSQL can be had, steps 2 and 3 say so loudly and are skipped, except under CI=1, where
# that is a failure.
#
# Which backend a black-box test runs on (crates/todo-jwt/tests/api):
#   - most run on the pass's backend (TODO_JWT_TEST_BACKEND), so on both, one pass each;
#   - a PostgreSQL-only test (two instances on one database, a database outage, TLS, rotation
#     across instances) is `#[ignore = "PostgreSQL only: ..."]`: step 1 lists it as ignored, by
#     name, never as passed; step 2 runs the suite with `--include-ignored`, and the test
#     itself fails (helpers::postgres_only) if it is ever run without PostgreSQL;
#   - a test that starts the binary on SQLite whatever the pass (one process per SQLite file,
#     SIGUSR1 backups, SIGUSR2 rotation, the log) needs no server: it runs, and checks, in
#     both passes, and is never ignored (an ignored test would be run by step 2 anyway).
#   A test may check a little more on one backend (the SQLite file modes, say), never less
#   than something on each: no test looks at the backend and then does nothing.
# So that `--include-ignored` starts nothing else, no other test of the suite is ignored.
set -euo pipefail
cd "$(dirname "$0")/.."

postgres_only='#[ignore = "PostgreSQL only: runs in the PostgreSQL pass of tests/run.sh"]'
if grep -rnE '^\s*#\[ignore' crates/todo-jwt/tests/api | grep -vF "$postgres_only"; then
  echo "!! the HTTP suite ignores only PostgreSQL-only tests, with: $postgres_only" >&2
  exit 1
fi

# The mail tests deliver to a real SMTP server: aiosmtpd, in a virtualenv of its own, which the
# tests start on free ports (crates/todo-jwt/tests/api/mail.rs) through TODO_JWT_TEST_PYTHON.
smtp_venv=target/smtp-venv
if ! "$smtp_venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  echo "creating $smtp_venv (aiosmtpd, the SMTP server the mail tests deliver to)"
  python3 -m venv "$smtp_venv"
  "$smtp_venv/bin/pip" install -q --disable-pip-version-check 'aiosmtpd==1.4.6'
fi
export TODO_JWT_TEST_PYTHON=$PWD/$smtp_venv/bin/python
# The TLS mail tests make their certificates with openssl (crates/todo-jwt/tests/api/mail_tls.rs).
if ! command -v openssl >/dev/null; then
  echo "installing openssl (the TLS mail tests make their certificates with it)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl) >/dev/null
fi

echo "== tests on SQLite"
cargo test --workspace

echo "== HTTP tests on PostgreSQL"
pg_url=${TODO_JWT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_ready() { command -v pg_isready >/dev/null && pg_isready -q -d "$pg_url"; }
if ! pg_ready && command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  for _ in $(seq 50); do pg_ready && break; sleep 0.2; done
fi
if pg_ready; then
  TODO_JWT_TEST_BACKEND=postgres TODO_JWT_TEST_POSTGRES_URL=$pg_url \
    cargo test -p todo-jwt --test api -- --include-ignored

  echo "== HTTP tests on PostgreSQL through PgBouncer in transaction pooling mode"
  # The services reach each test database through PgBouncer (`?pooler=transaction`); the
  # tests' own SQL, the TLS test and the outage test's proxy reach PostgreSQL itself.
  bouncer_port=$(bash tests/pgbouncer.sh start)
  trap 'bash tests/pgbouncer.sh stop' EXIT
  TODO_JWT_TEST_BACKEND=postgres TODO_JWT_TEST_POSTGRES_URL=$pg_url \
    TODO_JWT_TEST_POOLER_URL=postgres://postgres@127.0.0.1:$bouncer_port/postgres \
    cargo test -p todo-jwt --test api -- --include-ignored
  bash tests/pgbouncer.sh stop
  trap - EXIT
else
  echo "!! PostgreSQL tests NOT run: no PostgreSQL server answers at $pg_url" >&2
  echo "!! (install and start one, or set TODO_JWT_TEST_POSTGRES_URL)" >&2
  if [ "${CI:-}" = 1 ]; then exit 1; fi
fi

echo "== end-to-end checks"
bash tests/e2e/run.sh

echo "== the deployment kit: three instances behind HAProxy through PgBouncer (bench/cluster.sh)"
# The debug binary the end-to-end checks built: what is counted is failed requests, not speed.
SERVER_BIN=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/todo-jwt \
  bash bench/cluster.sh

#!/usr/bin/env bash
# End-to-end checks against the real server: the OpenAPI document is valid OpenAPI 3.1 and
# Redocly's linter (recommended rules) finds no error in it, the explorer works in headless
# Chromium (token pasted, and the password flow), pages on other origins call the API from
# Chromium as CORS allows (and not when it does not), PyJWT verifies our tokens with the JWK
# Set alone, the README's curl walk-through runs as typed and answers as the README shows, and
# schemathesis finds no 5xx and no response that breaks the document.
#
# Installs what it needs: Debian's chromium, chromium-driver and jq (which the walk-through
# uses), nodejs/npm if there is no Node, a Python virtualenv (in target/e2e-venv) with
# selenium, schemathesis, openapi-spec-validator and PyJWT (with cryptography), and a pinned
# @redocly/cli (in target/redocly).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/e2e-venv
redocly=target/redocly
redocly_version=2.77.0
artifacts=target/e2e
mkdir -p "$artifacts"

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  echo "e2e: installing chromium and chromium-driver (Debian packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) >/dev/null
fi
if ! command -v jq >/dev/null; then
  echo "e2e: installing jq (Debian package; the README's walk-through uses it)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq jq) >/dev/null
fi
if ! command -v npm >/dev/null; then
  echo "e2e: installing nodejs and npm (Debian packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm) >/dev/null
fi
if [ "$(cat "$redocly/version" 2>/dev/null)" != "$redocly_version" ]; then
  echo "e2e: installing @redocly/cli $redocly_version in $redocly"
  npm install --silent --no-audit --no-fund --prefix "$redocly" "@redocly/cli@$redocly_version"
  echo "$redocly_version" >"$redocly/version"
fi
if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/python" -c 'import jwt, cryptography, pyotp' 2>/dev/null; then
  echo "e2e: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    'selenium>=4.20' 'schemathesis>=4,<5' 'openapi-spec-validator>=0.7' 'pyjwt[crypto]>=2.8,<3' \
    'pyotp>=2.9,<3'
fi

cargo build -q -p todo-jwt
# Where cargo put it: CARGO_TARGET_DIR (or a configured target directory) may be elsewhere.
server=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')/debug/todo-jwt
work=$(mktemp -d)
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(free_port)
base=http://127.0.0.1:$port
TODO_JWT_PORT=$port TODO_JWT_DATA_DIR=$work/data "$server" >"$artifacts/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "$base/" && break; sleep 0.1; done

echo "== e2e: the document is valid OpenAPI 3.1"
curl -sf "$base/openapi.json" -o "$artifacts/openapi.json"
"$venv/bin/openapi-spec-validator" "$artifacts/openapi.json"

echo "== e2e: its 3.0.3 rendering is valid OpenAPI 3.0"
curl -sf "$base/openapi-3.0.json" -o "$artifacts/openapi-3.0.json"
"$venv/bin/openapi-spec-validator" "$artifacts/openapi-3.0.json"

echo "== e2e: Redocly's linter finds no error in the document"
# Its recommended rules: an error fails the stage, warnings are printed. (On Node 20 it prints
# that Node 20 support is ending; this pinned release runs on it.)
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$redocly/node_modules/.bin/redocly" lint --format=stylish "$artifacts/openapi.json"

echo "== e2e: another program (PyJWT) verifies our tokens with the JWK Set alone"
"$venv/bin/python" tests/e2e/jwks_test.py "$base"

echo "== e2e: the README's curl walk-through, run as typed, answers as the README shows"
"$venv/bin/python" tests/e2e/readme_test.py "$base"

echo "== e2e: the explorer in headless Chromium"
"$venv/bin/python" tests/e2e/explorer_test.py "$base" "$PWD/$artifacts/explorer.png"

echo "== e2e: a password reset through the link's page, in headless Chromium"
"$venv/bin/python" tests/e2e/reset_test.py "$base" "$work/data"

echo "== e2e: a second factor turned on through its page, in headless Chromium"
"$venv/bin/python" tests/e2e/mfa_test.py "$base"

echo "== e2e: CORS from pages on other origins, in headless Chromium"
mkdir -p "$work/pages"
allowed_page=http://127.0.0.1:$(free_port)
other_page=http://127.0.0.1:$(free_port)
for page in "$allowed_page" "$other_page"; do
  python3 -m http.server --bind 127.0.0.1 --directory "$work/pages" "${page##*:}" >/dev/null 2>&1 &
  pids+=($!)
done
listed_port=$(free_port)
listed=http://127.0.0.1:$listed_port
TODO_JWT_PORT=$listed_port TODO_JWT_DATA_DIR=$work/listed TODO_JWT_CORS_ORIGINS=$allowed_page \
  "$server" >"$artifacts/server-listed.log" 2>&1 &
pids+=($!)
for url in "$listed/" "$allowed_page/" "$other_page/"; do
  for _ in $(seq 100); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
done
"$venv/bin/python" tests/e2e/cors_test.py "$base" "$listed" "$allowed_page" "$other_page"

echo "== e2e: schemathesis against the live server, with a valid token"
curl -sf "$base/signup" -H 'Content-Type: application/json' \
  -d '{"email":"schemathesis@example.com","password":"schemathesis"}' >/dev/null
token=$(curl -sf "$base/users/login" -H 'Content-Type: application/json' \
  -d '{"email":"schemathesis@example.com","password":"schemathesis"}' |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
# Logout and logout-all are left out: they would end the token's session, and every later
# case would test only the 401 (both are covered by the HTTP suite).
"$venv/bin/schemathesis" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --exclude-path-regex '^/users/logout' \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed "${SCHEMATHESIS_SEED:-1}" \
  --report junit --report-junit-path "$artifacts/schemathesis.xml" | tee "$artifacts/schemathesis.txt"
grep -E "generated, [0-9]+ passed" "$artifacts/schemathesis.txt" >/dev/null || {
  echo "e2e: schemathesis did not report its cases" >&2
  exit 1
}
echo "e2e: all checks passed; screenshot at $artifacts/explorer.png"

#!/usr/bin/env bash
# End-to-end checks against the real server: the OpenAPI document is valid OpenAPI 3.1, Redocly's
# linter (recommended rules, warnings included) and Spectral (spectral:oas) find no error and no
# warning in it, clients generated from it (openapi-python-client; openapi-typescript +
# openapi-fetch) run the whole account and todo scenario, the explorer works in headless
# Chromium (token pasted, and the password flow), pages on other origins call the API from
# Chromium as CORS allows (and not when it does not), PyJWT verifies our tokens with the JWK
# Set alone, the README's curl walk-through runs as typed and answers as the README shows, and
# schemathesis, authenticated for every operation on a server without rate limits, finds no 5xx
# and no response that breaks the document.
#
# Installs what it needs: Debian's chromium, chromium-driver and jq (which the walk-through
# uses), nodejs/npm if there is no Node, a Python virtualenv (in target/e2e-venv) with
# selenium, schemathesis, openapi-spec-validator and PyJWT (with cryptography), and pinned:
# @redocly/cli (in target/redocly), @stoplight/spectral-cli (in target/spectral),
# openapi-typescript, openapi-fetch and typescript (in target/ts-client), and
# openapi-python-client (in the virtualenv target/client-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv=target/e2e-venv
redocly=target/redocly
redocly_version=2.77.0
spectral=target/spectral
spectral_version=6.16.3
ts_client=target/ts-client
ts_client_packages="openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3 @types/node@20.19.43"
client_venv=target/client-venv
python_client_generator=openapi-python-client==0.29.1
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
if [ "$(cat "$spectral/version" 2>/dev/null)" != "$spectral_version" ]; then
  echo "e2e: installing @stoplight/spectral-cli $spectral_version in $spectral"
  npm install --silent --no-audit --no-fund --prefix "$spectral" "@stoplight/spectral-cli@$spectral_version"
  echo "$spectral_version" >"$spectral/version"
fi
if [ "$(cat "$ts_client/version" 2>/dev/null)" != "$ts_client_packages" ]; then
  echo "e2e: installing $ts_client_packages in $ts_client"
  # shellcheck disable=SC2086 # one word a package
  npm install --silent --no-audit --no-fund --save-exact --prefix "$ts_client" $ts_client_packages
  echo "$ts_client_packages" >"$ts_client/version"
fi
if [ "$(cat "$client_venv/version" 2>/dev/null)" != "$python_client_generator" ]; then
  echo "e2e: creating $client_venv with $python_client_generator"
  python3 -m venv "$client_venv"
  "$client_venv/bin/pip" install -q --disable-pip-version-check "$python_client_generator"
  echo "$python_client_generator" >"$client_venv/version"
fi
if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/python" -c 'import jwt, cryptography, pyotp' 2>/dev/null; then
  echo "e2e: creating $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check \
    'selenium>=4.20' 'schemathesis>=4.32,<5' 'openapi-spec-validator>=0.7' 'pyjwt[crypto]>=2.8,<3' \
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

echo "== e2e: Redocly's linter finds no error and no warning in the document"
# Its recommended rules with warnings raised to errors (tests/e2e/redocly.yaml): `lint` exits 0
# on warnings. (On Node 20 it prints that Node 20 support is ending; this release runs on it.)
REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true \
  "$redocly/node_modules/.bin/redocly" lint --config tests/e2e/redocly.yaml --format=stylish \
  "$artifacts/openapi.json"

echo "== e2e: Spectral (spectral:oas) finds no error and no warning in the document"
"$spectral/node_modules/.bin/spectral" lint --ruleset tests/e2e/spectral.yaml --fail-severity=warn \
  "$artifacts/openapi.json"

echo "== e2e: a Python client generated by openapi-python-client runs the whole scenario"
# No post-generation hooks: their default runs ruff, which the virtualenv does not have.
rm -rf "$artifacts/python-client"
"$client_venv/bin/openapi-python-client" generate --path "$artifacts/openapi.json" --meta none \
  --config tests/e2e/clients/openapi-python-client.yaml --output-path "$artifacts/python-client/todo_jwt_client"
"$client_venv/bin/python" tests/e2e/clients/scenario.py "$artifacts/python-client" todo_jwt_client "$base"

echo "== e2e: a TypeScript client (openapi-typescript + openapi-fetch) runs the whole scenario"
# Compiled by tsc (strict, so every call is checked against the document's types) beside the
# generated types, inside $ts_client so that its node_modules resolve; run by plain node.
ts_build=$ts_client/build
rm -rf "$ts_build" && mkdir -p "$ts_build"
echo '{"type": "module"}' >"$ts_build/package.json"
cp tests/e2e/clients/scenario.ts "$ts_build/"
"$ts_client/node_modules/.bin/openapi-typescript" "$artifacts/openapi.json" -o "$ts_build/schema.d.ts"
"$ts_client/node_modules/.bin/tsc" --strict --noEmitOnError --target es2022 --module nodenext \
  --typeRoots "$ts_client/node_modules/@types" --types node "$ts_build/scenario.ts"
node "$ts_build/scenario.js" "$base"

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

echo "== e2e: schemathesis, authenticated for every operation, on a server without rate limits"
# Its own server, every limit the settings have lifted (per address, per account's failures,
# refusal pacing, the hashing queue). tests/e2e/schemathesis_hooks.py gives each operation the
# credentials it needs (a token; a fresh account for those that end a session or the account; a
# second factor; the right password, code or mailed token in every other case), and
# tests/e2e/schemathesis.toml fails the run if an operation got only 401/403, mostly 429 or 404.
fuzz_port=$(free_port)
fuzz=http://127.0.0.1:$fuzz_port
TODO_JWT_PORT=$fuzz_port TODO_JWT_DATA_DIR=$work/fuzz TODO_JWT_AUTH_RATE_LIMIT=0 \
  TODO_JWT_LOGIN_MAX_FAILURES=0 TODO_JWT_REFUSALS_PER_SECOND=0 TODO_JWT_MAX_HASH_WAIT_MS=0 \
  "$server" >"$artifacts/server-fuzz.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -s -o /dev/null "$fuzz/" && break; sleep 0.1; done
E2E_BASE_URL=$fuzz E2E_MAIL_DIR=$work/fuzz/mail SCHEMATHESIS_HOOKS=tests/e2e/schemathesis_hooks.py \
  "$venv/bin/schemathesis" --config-file tests/e2e/schemathesis.toml run "$fuzz/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${SCHEMATHESIS_EXAMPLES:-50}" --seed "${SCHEMATHESIS_SEED:-1}" \
  --report junit --report-junit-path "$artifacts/schemathesis.xml" | tee "$artifacts/schemathesis.txt"
grep -E "generated, [0-9]+ passed" "$artifacts/schemathesis.txt" >/dev/null || {
  echo "e2e: schemathesis did not report its cases" >&2
  exit 1
}
echo "e2e: all checks passed; screenshot at $artifacts/explorer.png"

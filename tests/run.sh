#!/usr/bin/env bash
# The test command: every Rust test (unit, property and HTTP tests), then the end-to-end checks
# (OpenAPI validity, the explorer in headless Chromium, schemathesis). Installs what the
# end-to-end checks need on first run.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace
bash tests/e2e/run.sh

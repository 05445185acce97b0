#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and end-to-end tests.
# Installs what it needs; safe to run on a fresh machine (CI runs exactly this).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install the Rust toolchain (rustup) first" >&2
    exit 1
fi
# rustfmt and clippy ship with rustup's default profile; add them if a minimal
# profile left them out.
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
            rustup component add "$component"
        fi
    done
fi
if [ ! -d ../shared/peer ]; then
    echo "warning: ../shared/peer is missing; the peer-compatibility tests will fail" >&2
fi

# The Elasticsearch tests run against osmem-server, an OpenSearch-compatible in-memory
# server from PyPI with a bundled binary.
if ! python3 -c "import osmem_server" >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check "osmem-server==0.1.6"
fi
OSMEM_SERVER_BIN=$(python3 -c "import osmem_server; print(osmem_server.resolve_binary())")
export OSMEM_SERVER_BIN

# The console's end-to-end test runs it inside tmux.
if ! command -v tmux >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
    else
        sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
    fi
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The test-only fault-injection code is linted too (the tests build with it).
cargo clippy --workspace --all-targets --features logship/fault-injection -- -D warnings

# Run every test binary, then close with one total line ("N passed, N failed") so
# the result does not read as the last binary's (often empty doc-test) summary.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --features logship/fault-injection --no-fail-fast 2>&1 | tee "$log" || status=$?
passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s += $4} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s += $1} END {print s + 0}')
echo
echo "${passed} passed, ${failed} failed"
exit "$status"

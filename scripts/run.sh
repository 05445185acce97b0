#!/usr/bin/env bash
# Runs logship on the sample logs with the root pipeline.conf.
#
# Until the long-running agent lands (issue 3), logship reads its inputs once and
# prints one ECS document per line (JSON lines) on standard output. Pass extra
# arguments through, e.g. `scripts/run.sh --config my.conf`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin logship
if [ "$#" -eq 0 ]; then
    set -- --config pipeline.conf
fi
exec target/release/logship "$@"

#!/usr/bin/env bash
# Grok throughput matrix (lines per CPU-second of the grok filter, one thread):
# every distinct matching case of the upstream grok vectors, with minimum, median and
# the count below each target, then the CDN and web patterns on generated lines.
#
#   scripts/bench-grok.sh [REPEAT]        REPEAT: events per case (default 20000)
#   GROK_BENCH_FILTER=HTTPD scripts/bench-grok.sh   only cases whose label contains it
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-20000}
cargo build --release -q -p loggen
cargo build --release -q -p pipeline-dsl --example grok_bench
edge=$(scripts/bench-data.sh edge 50000)
cloudfront=$(scripts/bench-data.sh cloudfront 50000)
exec target/release/examples/grok_bench ../shared/peer/grok/vectors.json "$edge" "$cloudfront" "$repeat"

#!/usr/bin/env bash
# End-to-end benchmark: `logship --config CONFIG --stdin --stdout < big.log > /dev/null`
# (the filter chain and JSON encoding; `WORKERS` filter workers, default 1, since
# issue 2's targets are per core).
# Prints lines/s, CPU seconds (user + system) and peak RSS of the logship process.
#
#   scripts/bench-e2e.sh [KIND] [LINES] [CONFIG]
#     KIND    edge | cloudfront | playback | mixed   (default edge)
#     LINES   number of generated lines               (default 1000000)
#     CONFIG  pipeline config                         (default pipeline.conf)
# LOGSHIP_BIN measures another logship binary, such as the one scripts/build-pgo.sh
# makes (default: target/release/logship, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-edge}
lines=${2:-1000000}
config=${3:-pipeline.conf}
logship=${LOGSHIP_BIN:-target/release/logship}
cargo build --release -p logship -p loggen --bins
data=$(scripts/bench-data.sh "$kind" "$lines")
workers=${WORKERS:-1}
echo "config       $config, $workers filter worker(s)"
scripts/measure.py "$data" --stdin -- "$logship" --config "$config" --stdin --stdout \
    --workers "$workers" --api-addr off --log warn

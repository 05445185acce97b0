#!/usr/bin/env bash
# Generates (once, then reuses) a benchmark input with loggen and prints its path.
#
#   scripts/bench-data.sh KIND LINES
#     KIND   edge | cloudfront | playback | mixed (thirds of each)
# Expects target/release/loggen to be built.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=$1
lines=$2
data=${TMPDIR:-/tmp}/logship-bench-${kind}-${lines}.log
if [ ! -s "$data" ]; then
    if [ "$kind" = mixed ]; then
        third=$((lines / 3))
        { target/release/loggen --kind edge --lines "$third" --seed 11
          target/release/loggen --kind cloudfront --lines "$third" --seed 12
          target/release/loggen --kind playback --lines "$third" --seed 13; } > "$data"
    else
        target/release/loggen --kind "$kind" --lines "$lines" --seed 11 > "$data"
    fi
fi
echo "$data"

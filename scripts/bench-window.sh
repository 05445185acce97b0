#!/usr/bin/env bash
# Streaming-health (window_stats) benchmarks, end to end through the release binary:
#
#   scripts/bench-window.sh memory [LINES]   # 100,000 distinct titles in one 10 s window
#   scripts/bench-window.sh cost [LINES]     # pipeline.conf with and without its window_stats blocks
#
# Each run is `logship --config CONFIG --stdin --stdout --workers $WORKERS (default 2)`;
# scripts/measure.py prints lines/s, CPU seconds and peak RSS of the logship process,
# and the metric documents it emitted.
set -euo pipefail
cd "$(dirname "$0")/.."
what=${1:-memory}
cargo build --release -p logship -p loggen --bins
tmp=${TMPDIR:-/tmp}

measure() { # measure CONFIG DATA LABEL
    echo "== $3 (${WORKERS:-2} workers)"
    scripts/measure.py "$2" --stdin --count-metrics -- target/release/logship --config "$1" --stdin --stdout \
        --workers "${WORKERS:-2}" --api-addr off --log warn
}

case "$what" in
memory)
    lines=${2:-1000000}
    data=$tmp/logship-window-100k-titles.log
    if [ ! -s "$data" ]; then
        # Zipf-skewed traffic over 100,000 titles in one 10 s window, plus one request for
        # every title, so that all 100,000 are present (a few hundred are hot enough to
        # get a dense histogram).
        target/release/loggen --kind edge --lines "$lines" --titles 100000 --duration-secs 10 --seed 5 > "$data"
        target/release/loggen --kind edge --lines 100000 --titles 100 --duration-secs 10 --seed 6 |
            awk '{ sub(/\/vod\/t[0-9]+\//, sprintf("/vod/t%04d/", NR)); print }' >> "$data"
    fi
    echo "distinct titles: $(grep -o '/vod/t[0-9]*/' "$data" | sort -u | wc -l)"
    measure pipeline.conf "$data" "pipeline.conf, 100k titles in one window"
    ;;
cost)
    lines=${2:-1000000}
    data=$(scripts/bench-data.sh edge "$lines")
    without=$tmp/logship-pipeline-without-window-stats.conf
    # The same config with its window_stats blocks removed.
    python3 - pipeline.conf "$without" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
out, i = [], 0
for m in re.finditer(r"\n\s*window_stats \{", text):
    if m.start() < i:
        continue
    depth, j = 0, m.end() - 1
    while True:
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        j += 1
        if depth == 0:
            break
    out.append(text[i:m.start()])
    i = j
out.append(text[i:])
open(sys.argv[2], "w").write("".join(out))
PY
    measure "$without" "$data" "aggregation off"
    measure pipeline.conf "$data" "aggregation on "
    ;;
*)
    echo "usage: $0 memory|cost [LINES]" >&2
    exit 2
    ;;
esac

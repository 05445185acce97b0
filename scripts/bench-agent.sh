#!/usr/bin/env bash
# End-to-end benchmark of the agent: a file read by the `file` input, the root
# pipeline.conf's filters, and one output. Prints lines/s, CPU seconds (user + system)
# and peak RSS of the logship process.
#
#   scripts/bench-agent.sh [OUTPUT] [LINES] [KIND] [WORKERS]
#     OUTPUT   null | bulk | osmem   (default null)
#              bulk:  testkit's bulk endpoint, which accepts without indexing (the
#                     output path's own ceiling)
#              osmem: osmem-server (indexes for real, a few thousand docs/s)
#     LINES    generated lines (default 1000000)
#     KIND     edge | cloudfront | playback | mixed (default edge)
#     WORKERS  filter workers (default: number of cores)
# LOGSHIP_BIN measures another logship binary, such as the one scripts/build-pgo.sh
# makes (default: target/release/logship, built first).
set -euo pipefail
cd "$(dirname "$0")/.."
output=${1:-null}
lines=${2:-1000000}
kind=${3:-edge}
workers=${4:-$(nproc)}
logship=${LOGSHIP_BIN:-target/release/logship}
cargo build --release -p logship -p loggen -p testkit --bins >&2
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
data=$(scripts/bench-data.sh "$kind" "$lines")
case "$output" in
    null) out='null {}' ;;
    bulk)
        target/release/bulk-endpoint > "$dir/addr" 2>/dev/null &
        while [ ! -s "$dir/addr" ]; do sleep 0.05; done
        out="elasticsearch { hosts => [\"http://$(cat "$dir/addr")\"] index => \"bench\" manage_template => false ${ES_EXTRA:-} }" ;;
    osmem)
        python3 -c "import osmem_server" 2>/dev/null || python3 -m pip install --quiet "osmem-server==0.1.6"
        bin=$(python3 -c "import osmem_server; print(osmem_server.resolve_binary())")
        "$bin" -addr 127.0.0.1:0 -no-stdin-watch > "$dir/ready" &
        while ! grep -q url "$dir/ready" 2>/dev/null; do sleep 0.05; done
        url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$dir/ready")
        out="elasticsearch { hosts => [\"$url\"] index => \"logship-bench\" }" ;;
    *) echo "unknown output $output" >&2; exit 2 ;;
esac
python3 - "$dir/bench.conf" "$data" "$out" <<'PY'
import sys
conf, data, out = sys.argv[1:]
text = open("pipeline.conf").read()
filters = text[text.index("\nfilter {"):text.index("\noutput {")]
open(conf, "w").write(f'input {{ file {{ path => "{data}" mode => "read" }} }}\n{filters}\noutput {{ {out} }}\n')
PY
echo "output       $output, $workers filter workers"
scripts/measure.py "$data" -- "$logship" --config "$dir/bench.conf" --once --data-dir "$dir/data" \
    --workers "$workers" --api-addr off --log warn

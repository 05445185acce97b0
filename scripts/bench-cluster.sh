#!/usr/bin/env bash
# Delivery to a struggling cluster: the same edge lines, `--once`, through the test
# kit's fault-injecting proxy (testkit/src/proxy.rs), clean and under each fault mix,
# in one run. Prints the times, their ratios to the clean run, and that every line was
# indexed exactly once; then a phase of 30 s in which every item is turned away, with
# the requests started and in flight per second before, during and after it.
#
#   scripts/bench-cluster.sh [LINES] [SEED]     (defaults 20000, 1)
# LOGSHIP_BIN measures another logship binary (default: target/release/logship).
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-20000}
seed=${2:-1}
logship=${LOGSHIP_BIN:-target/release/logship}
cargo build --release -p logship -p loggen -p testkit --bins >&2
dir=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$dir"' EXIT
data=$(scripts/bench-data.sh edge "$lines")
python3 -c "import osmem_server" 2>/dev/null || python3 -m pip install --quiet "osmem-server==0.1.6"
osmem_bin=$(python3 -c "import osmem_server; print(osmem_server.resolve_binary())")

# Starts a fresh upstream (`osmem` or `bulk`, the test kit's endpoint that accepts
# without indexing) and prints its address.
upstream() {
    local kind=$1 out="$dir/upstream-$RANDOM"
    if [ "$kind" = osmem ]; then
        "$osmem_bin" -addr 127.0.0.1:0 -no-stdin-watch > "$out" &
        while ! grep -q url "$out" 2>/dev/null; do sleep 0.05; done
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"][7:])' "$out"
    else
        target/release/bulk-endpoint > "$out" 2>/dev/null &
        while [ ! -s "$out" ]; do sleep 0.05; done
        cat "$out"
    fi
}

# run NAME UPSTREAM_KIND INPUT PHASES: one --once run through a fresh proxy; prints
# "NAME SECONDS INDEXED" and keeps the proxy's per-second report in $dir/NAME.proxy.
run() {
    local name=$1 kind=$2 input=$3 phases=$4
    local up; up=$(upstream "$kind")
    target/release/fault-proxy "$up" "$seed" "$phases" > "$dir/$name.proxy" &
    local proxy_pid=$!
    while [ ! -s "$dir/$name.proxy" ]; do sleep 0.05; done
    local proxy; proxy=$(head -1 "$dir/$name.proxy")
    printf 'input { file { path => "%s" mode => "read" } }\noutput { elasticsearch { hosts => ["http://%s"] index => "bench" manage_template => false } }\n' \
        "$input" "$proxy" > "$dir/$name.conf"
    local start end
    start=$(date +%s.%N)
    "$logship" --config "$dir/$name.conf" --once --data-dir "$dir/data-$name" --api-addr off --log error
    end=$(date +%s.%N)
    kill "$proxy_pid"
    local indexed=-
    if [ "$kind" = osmem ]; then
        curl -s -XPOST "http://$up/bench/_refresh" > /dev/null
        indexed=$(curl -s "http://$up/bench/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    fi
    echo "$name $(python3 -c "print(f'{$end - $start:.2f}')") $indexed"
}

storm="item_429=0.2,request_503=0.1,reset_after=0.05,stall=0.02,stall_for=3"
echo "== $lines edge lines, --once, through the proxy (seed $seed); seconds, documents indexed"
{
    run clean osmem "$data" "0:clean"
    run item429 osmem "$data" "0:item_429=0.05"
    run storm osmem "$data" "0:$storm"
    run bulk-clean bulk "$data" "0:clean"
    run bulk-item429 bulk "$data" "0:item_429=0.05"
} | tee "$dir/times"
python3 - "$dir/times" "$lines" <<'PY'
import sys
rows = {r.split()[0]: r.split()[1:] for r in open(sys.argv[1])}
lines = int(sys.argv[2])
t = lambda n: float(rows[n][0])
for name, base in [("item429", "clean"), ("storm", "clean"), ("bulk-item429", "bulk-clean")]:
    print(f"{name:14} {t(name):7.2f} s  {t(name) / t(base):5.2f} x {base}  throughput {t(base) / t(name) * 100:5.1f} %")
for name in ["clean", "item429", "storm"]:
    ok = rows[name][1] == str(lines)
    print(f"{name:14} indexed {rows[name][1]} of {lines}: {'exactly once' if ok else 'MISMATCH'}")
PY

# The rejection phase: enough lines for a run that outlasts it against the local server.
long=$(scripts/bench-data.sh edge $((lines * 8)))
echo "== a 30 s phase of 100 % rejections, from 10 s to 40 s ($((lines * 8)) lines, osmem)"
run phase osmem "$long" "0:clean;10:item_429=1;40:clean"
python3 - "$dir/phase.proxy" <<'PY'
import sys, re
rows = [dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", l)) for l in open(sys.argv[1]) if l.startswith("t=")]
def stats(a, b):
    sel = [r for r in rows if a < r["t"] <= b]
    return (sum(r["started"] for r in sel) / max(len(sel), 1), max((r["max_in_flight"] for r in sel), default=0),
            sum(r["items"] - r["rejected"] for r in sel) / max(len(sel), 1))
for name, (a, b) in [("before (1-10 s)", (0, 10)), ("during (15-40 s)", (15, 40)), ("after (45-55 s)", (45, 55))]:
    rate, most, taken = stats(a, b)
    print(f"{name:18} requests/s {rate:6.1f}  max in flight {most}  items taken/s {taken:8.0f}")
before = stats(0, 10)[2]
back = next((r["t"] for r in rows if r["t"] > 40 and r["items"] - r["rejected"] >= 0.8 * before), None)
print(f"full speed (80 % of before) back {back - 40 if back else 'never'} s after the phase")
PY

#!/usr/bin/env bash
# Delivery to a struggling cluster: the same edge lines, `--once`, through the test
# kit's fault-injecting proxy (testkit/src/proxy.rs), clean and under each fault mix,
# in one run. Prints the times, their ratios to the clean run, and that every line was
# indexed exactly once; then a phase of 30 s in which every item is turned away, with
# the requests started and in flight per second before, during and after it, and the
# items taken per second around its end (the recovery).
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
# without indexing) in this shell (so that it is stopped with the run); its address
# goes to $dir/upstream.
upstream() {
    local kind=$1 out="$dir/upstream.out"
    rm -f "$out"
    if [ "$kind" = osmem ]; then
        "$osmem_bin" -addr 127.0.0.1:0 -no-stdin-watch > "$out" 2>/dev/null &
        upstream_pid=$!
        while ! grep -q url "$out" 2>/dev/null; do sleep 0.05; done
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"][7:])' "$out" > "$dir/upstream"
    else
        target/release/bulk-endpoint > "$out" 2>/dev/null &
        upstream_pid=$!
        while [ ! -s "$out" ]; do sleep 0.05; done
        cp "$out" "$dir/upstream"
    fi
}

# proxy NAME PHASES: a fresh fault proxy in front of $dir/upstream; its report goes to
# $dir/NAME.proxy, its address to $proxy_addr.
proxy() {
    target/release/fault-proxy "$(cat "$dir/upstream")" "$seed" "$2" > "$dir/$1.proxy" 2>/dev/null &
    proxy_pid=$!
    while [ ! -s "$dir/$1.proxy" ]; do sleep 0.05; done
    proxy_addr=$(head -1 "$dir/$1.proxy")
}

# run NAME UPSTREAM_KIND INPUT PHASES: one --once run through a fresh proxy; prints
# "NAME SECONDS INDEXED".
run() {
    local name=$1 kind=$2 input=$3 phases=$4
    upstream "$kind"
    proxy "$name" "$phases"
    printf 'input { file { path => "%s" mode => "read" } }\noutput { elasticsearch { hosts => ["http://%s"] index => "bench" manage_template => false } }\n' \
        "$input" "$proxy_addr" > "$dir/$name.conf"
    local start end
    start=$(date +%s.%N)
    "$logship" --config "$dir/$name.conf" --once --data-dir "$dir/data-$name" --api-addr off --log error 2>/dev/null
    end=$(date +%s.%N)
    local indexed=-
    if [ "$kind" = osmem ]; then
        local up; up=$(cat "$dir/upstream")
        curl -s -XPOST "http://$up/bench/_refresh" > /dev/null
        indexed=$(curl -s "http://$up/bench/_count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
    fi
    kill "$proxy_pid" "$upstream_pid"
    wait "$proxy_pid" "$upstream_pid" 2>/dev/null || true
    echo "$name $(python3 -c "print(f'{$end - $start:.2f}')") $indexed"
}

storm="item_429=0.2,request_503=0.1,reset_after=0.05,stall=0.02,stall_for=3"
big=$((lines * 100))
bigdata=$(scripts/bench-data.sh edge "$big")
echo "== edge lines, --once, through the proxy (seed $seed): seconds, documents indexed"
echo "   osmem: $lines lines; test kit endpoint (no indexing): $big lines"
{
    run clean osmem "$data" "0:clean"
    run item429 osmem "$data" "0:item_429=0.05"
    run storm osmem "$data" "0:$storm"
    run bulk-clean bulk "$bigdata" "0:clean"
    run bulk-item429 bulk "$bigdata" "0:item_429=0.05"
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

# The rejection phase: the sample edge log replayed 10,000 times faster than recorded
# (a steady stream of some 20,000 lines/s), to the test kit's endpoint, for 55 s; every
# item is turned away from 10 s to 40 s.
echo "== a 30 s phase of 100 % rejections, from 10 s to 40 s (steady replay, test kit endpoint)"
upstream bulk
proxy phase "0:clean;10:item_429=1;40:clean"
printf 'input { replay { path => "sample-logs/cdn-edge.log" speed => 10000 loop => true } }\noutput { elasticsearch { hosts => ["http://%s"] index => "bench" manage_template => false } }\n' \
    "$proxy_addr" > "$dir/phase.conf"
"$logship" --config "$dir/phase.conf" --data-dir "$dir/data-phase" --api-addr off --log error 2>/dev/null &
agent_pid=$!
sleep 55
kill "$agent_pid"
wait "$agent_pid" 2>/dev/null || true
kill "$proxy_pid" "$upstream_pid"
python3 - "$dir/phase.proxy" <<'PY'
import sys, re
rows = [dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", l)) for l in open(sys.argv[1]) if l.startswith("t=")]
def stats(a, b):
    sel = [r for r in rows if a < r["t"] <= b]
    return (sum(r["started"] for r in sel) / max(len(sel), 1), max((r["max_in_flight"] for r in sel), default=0),
            sum(r["items"] - r["rejected"] for r in sel) / max(len(sel), 1))
spans = [("before (3-10 s)", (2, 10)), ("during (15-40 s)", (14, 40)), ("after (45-55 s)", (44, 55))]
for name, (a, b) in spans:
    rate, most, taken = stats(a, b)
    print(f"{name:18} requests/s {rate:6.1f}  max in flight {most}  items taken/s {taken:8.0f}")
print(f"request rate during / before: 1 / {stats(2, 10)[0] / max(stats(14, 40)[0], 0.01):.0f}")
print("per second from 38 s:", " ".join(f"{r['t']}:{r['items'] - r['rejected']}" for r in rows if 38 <= r["t"] <= 50))
PY

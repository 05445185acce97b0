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
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-edge}
lines=${2:-1000000}
config=${3:-pipeline.conf}
cargo build --release -p logship -p loggen --bins
data=$(scripts/bench-data.sh "$kind" "$lines")
python3 - "$data" "$config" <<'PY'
import os, resource, subprocess, sys, time
data, config, workers = sys.argv[1], sys.argv[2], os.environ.get("WORKERS", "1")
n = sum(1 for _ in open(data, "rb"))
size = os.path.getsize(data)
with open(data, "rb") as src, open(os.devnull, "wb") as sink:
    start = time.monotonic()
    proc = subprocess.run(["target/release/logship", "--config", config, "--stdin", "--stdout", "--workers", workers,
                           "--api-addr", "off", "--log", "warn"], stdin=src, stdout=sink, stderr=subprocess.PIPE)
    wall = time.monotonic() - start
if proc.returncode != 0:
    sys.exit(proc.stderr.decode())
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
print(f"input        {data} ({n} lines, {size / 1e6:.1f} MB)")
print(f"config       {config}, {workers} filter worker(s)")
print(f"wall         {wall:.2f} s")
print(f"cpu          {cpu:.2f} s (user {ru.ru_utime:.2f}, system {ru.ru_stime:.2f})")
print(f"lines/s      {n / wall:,.0f} (wall), {n / cpu:,.0f} per CPU second")
print(f"peak RSS     {ru.ru_maxrss / 1024:.1f} MiB")
PY

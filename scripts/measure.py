#!/usr/bin/env python3
"""Runs one command and prints what the benchmarks report: wall time, CPU seconds
(user + system) and peak RSS of the command, and lines/s over an input file.

    scripts/measure.py INPUT [--stdin] [--count-metrics] -- COMMAND...

INPUT          the file whose lines are counted (and fed on stdin with --stdin)
--count-metrics  count the window metric documents in the command's stdout
                 (otherwise stdout is discarded)
"""
import os
import resource
import subprocess
import sys
import time

args = sys.argv[1:]
split = args.index("--")
options, command = args[:split], args[split + 1:]
data = options[0]
lines = sum(1 for _ in open(data, "rb"))
metrics = 0
with open(data if "--stdin" in options else os.devnull, "rb") as src:
    start = time.monotonic()
    proc = subprocess.Popen(command, stdin=src, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in proc.stdout:
        if "--count-metrics" in options and b'"kind":"metric"' in line:
            metrics += 1
    err = proc.stderr.read()
    proc.wait()
    wall = time.monotonic() - start
if proc.returncode != 0:
    sys.exit(err.decode())
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu = ru.ru_utime + ru.ru_stime
print(f"input        {data} ({lines} lines, {os.path.getsize(data) / 1e6:.1f} MB)")
print(f"wall         {wall:.2f} s")
print(f"cpu          {cpu:.2f} s (user {ru.ru_utime:.2f}, system {ru.ru_stime:.2f})")
print(f"lines/s      {lines / wall:,.0f} (wall), {lines / cpu:,.0f} per CPU second")
print(f"peak RSS     {ru.ru_maxrss / 1024:.1f} MiB")
if "--count-metrics" in options:
    print(f"metric docs  {metrics}")

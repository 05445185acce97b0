#!/usr/bin/env bash
# Builds a profile-guided (PGO) release binary of logship: an instrumented build runs
# the root pipeline.conf's filters over generated edge, CloudFront and playback lines
# plus sample-logs/ (null output, then JSON output), and the release build is then
# optimised with the recorded profile. It builds twice (about 6 minutes on the
# project's 2-core machine); BENCHMARKS.md has what it buys.
#
#   scripts/build-pgo.sh            # binary: target/pgo/x86_64-unknown-linux-gnu/release/logship
#
# Needs rustup's llvm-tools component (installed here if missing). The training data
# uses other seeds than the benchmark inputs (scripts/bench-data.sh uses 11-13), so
# the benchmarks do not measure lines the profile has seen.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
profdata="$(rustc --print sysroot)/lib/rustlib/$host/bin/llvm-profdata"
if [ ! -x "$profdata" ]; then
    if ! command -v rustup > /dev/null; then
        echo "pgo: $profdata is missing and there is no rustup to install llvm-tools with" >&2
        exit 1
    fi
    rustup component add llvm-tools >&2
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# An explicit --target keeps RUSTFLAGS off build scripts and proc macros, so only the
# product is instrumented and optimised.
echo "pgo: instrumented build" >&2
RUSTFLAGS="-Cprofile-generate=$work/profiles" \
    cargo build --release --target "$host" -p logship -p loggen --target-dir target/pgo-gen >&2
bin=target/pgo-gen/$host/release

echo "pgo: training run" >&2
for kind in edge cloudfront playback; do
    # loggen is instrumented too; its profile goes elsewhere, not into logship's.
    LLVM_PROFILE_FILE="$work/loggen.profraw" "$bin/loggen" --kind "$kind" --lines 100000 --seed 101 > "$work/$kind.log"
done
filters=$(python3 - <<'PY'
text = open("pipeline.conf").read()
print(text[text.index("\nfilter {"):text.index("\noutput {")])
PY
)
inputs="\"$work/edge.log\", \"$work/cloudfront.log\", \"$work/playback.log\", \"$PWD/sample-logs/*.log\""
for output in 'null {}' 'stdout { codec => json_lines }'; do
    printf 'input { file { path => [%s] mode => "read" } }\n%s\noutput { %s }\n' \
        "$inputs" "$filters" "$output" > "$work/train.conf"
    rm -rf "$work/data"
    "$bin/logship" --config "$work/train.conf" --once --data-dir "$work/data" --api-addr off --log warn > /dev/null
done
"$profdata" merge -o "$work/logship.profdata" "$work/profiles"

echo "pgo: optimised build" >&2
RUSTFLAGS="-Cprofile-use=$work/logship.profdata" \
    cargo build --release --target "$host" -p logship --target-dir target/pgo >&2
echo "target/pgo/$host/release/logship"

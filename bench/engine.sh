#!/bin/sh
# Builds and runs the engine benchmark (1,000,000 accounts) and the @aave/math-utils
# comparison on its 20,000-account sample. Usage: bench/engine.sh [BUILD_DIR]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_engine -j2 >/dev/null
sample=$(mktemp /tmp/sparkd_bench_XXXXXX.json)
trap 'rm -f "$sample"' EXIT
"$build/bench/bench_engine" 1000000 "$sample"
node "$root/bench/engine.mjs" "$sample"

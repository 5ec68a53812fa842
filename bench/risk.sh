#!/bin/sh
# Builds (Release) and runs the ops risk engine benchmark on 100,000 synthetic accounts:
# liquidations at risk over a 21-point grid, a stress scenario with two cascade rounds, and VaR
# with 10,000 paths, each on one thread. Figures, not assertions.
# Usage: bench/risk.sh [BUILD_DIR] [N_ACCOUNTS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_risk -j2 >/dev/null
"$build/bench/bench_risk" "${2:-100000}"

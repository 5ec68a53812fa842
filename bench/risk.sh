#!/bin/sh
# Builds (Release) and runs the ops risk engine benchmark on 100,000 synthetic accounts:
# liquidations at risk over a 21-point grid (one thread, then two as the endpoint runs it), a
# stress scenario with two cascade rounds, and VaR with 10,000 paths. Figures, not assertions.
#
# "Before" and "after" in one run: the same benchmark is also built from another commit (default:
# where this branch left main, `git merge-base HEAD main`; BEFORE=<commit> to choose, BEFORE=none
# to skip), and both binaries run back to back, twice, with the load average printed around them.
# On a shared machine compare the CPU times, and the two binaries with each other.
# Usage: bench/risk.sh [BUILD_DIR] [N_ACCOUNTS]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build-bench}
n=${2:-100000}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --target bench_risk -j2 >/dev/null
after=$build/bench/bench_risk

before_rev=${BEFORE:-$(git -C "$root" merge-base HEAD main 2>/dev/null || echo none)}
before=
if [ "$before_rev" != none ]; then
  src=$build/before-src
  rm -rf "$src" "$build/before-build"
  mkdir -p "$src"
  git -C "$root" archive "$before_rev" | tar -x -C "$src"
  ln -s "$root/node_modules" "$src/node_modules" 2>/dev/null || true
  cmake -S "$src" -B "$build/before-build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build/before-build" --target bench_risk -j2 >/dev/null
  before=$build/before-build/bench/bench_risk
fi

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for pass in 1 2; do
  if [ -n "$before" ]; then
    echo "== before ($(git -C "$root" rev-parse --short "$before_rev")), pass $pass"
    "$before" "$n"
  fi
  echo "== after ($(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- risk bench || echo '+changes')), pass $pass"
  "$after" "$n"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"

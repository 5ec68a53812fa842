#!/usr/bin/env bash
# Import benchmark: `sparkd import` of a 100,000-account snapshot into a private PostgreSQL.
#
#   bench/import.sh [ACCOUNTS]        default 100000; target: under 10 s
#
# Generates one sparkd.snapshot/1 line with bench/gen_snapshot.mjs (the fixture's reserves,
# prices, vaults and liquidity layer; ACCOUNTS synthetic accounts with 1-3 positions each, full
# mode), starts a private cluster (scripts/pg.sh, fsync off like the tests), applies the
# migrations, then times under /usr/bin/time -v:
#   1. the first import (empty tables),
#   2. the next block with the same accounts (every account and position replaced),
# and prints wall time, peak RSS and CPU time of each, and the import's own parse/write split.
# The wall time includes PostgreSQL's work; on a shared machine compare it with the load average
# printed beside it.
# Environment: SPARKD_BIN (default: build-bench/sparkd, brought up to date in Release). The cluster and
# the temp dir are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
accounts=${1:-100000}
die() { echo "bench/import.sh: $*" >&2; exit 1; }

if [ ! -x /usr/bin/time ]; then
  [ "$(id -u)" = 0 ] || die "/usr/bin/time is missing: apt-get install time"
  apt-get install -y -q time >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q time >/dev/null; } \
    || die "could not install time"
fi
command -v node >/dev/null || die "node is missing"

bin=${SPARKD_BIN:-}
if [ -z "$bin" ]; then
  build=$root/build-bench
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target sparkd >/dev/null # incremental: never a stale binary
  bin=$build/sparkd
fi
[ -x "$bin" ] || die "no sparkd binary at $bin"

tmp=$(mktemp -d /tmp/sparkd-bench-import.XXXXXX)
chmod 0755 "$tmp" # the cluster runs as postgres when we are root
cleanup() { "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "generating a snapshot with $accounts accounts ..."
node "$root/bench/gen_snapshot.mjs" "$accounts" 21000000 >"$tmp/snap1.ndjson"
node "$root/bench/gen_snapshot.mjs" "$accounts" 21000001 >"$tmp/snap2.ndjson"
echo "  $(wc -c <"$tmp/snap1.ndjson") bytes"

url=$("$root/scripts/pg.sh" start "$tmp/pg")
export SPARKD_DATABASE_URL=$url SPARKD_LOG_LEVEL=warn
"$bin" migrate >/dev/null

run() { # run LABEL FILE
  /usr/bin/time -v "$bin" import "$2" >"$tmp/out" 2>"$tmp/time" || { cat "$tmp/out" "$tmp/time" >&2; die "import failed"; }
  local wall rss user sys
  wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$tmp/time")
  rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$tmp/time")
  user=$(sed -n 's/.*User time (seconds): //p' "$tmp/time")
  sys=$(sed -n 's/.*System time (seconds): //p' "$tmp/time")
  printf '%-34s wall %s  peak RSS %d MiB  (sparkd CPU: user %s s, sys %s s)\n' "$1" "$wall" $((rss / 1024)) "$user" "$sys"
  sed 's/^/    /' "$tmp/out"
}
echo "sparkd import, $accounts accounts ($(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)):"
run "1. first import (empty tables)" "$tmp/snap1.ndjson"
run "2. next block (all replaced)" "$tmp/snap2.ndjson"
psql "$url" -Atc "SELECT 'stored: ' || count(*) || ' accounts, ' || (SELECT count(*) FROM positions) || ' positions, '
  || count(*) FILTER (WHERE health_factor < 10::numeric ^ 18) || ' below HF 1' FROM accounts" 2>/dev/null || true

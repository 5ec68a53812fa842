#!/usr/bin/env bash
# First-import memory (streaming import): peak RSS and wall time of `sparkd import` of one
# generated full snapshot of ACCOUNTS accounts (default 200,000; `sparkd demo-data --days 0`, two
# positions per account on average) into an empty database, for each binary given (default
# build-bench/sparkd, built Release), so a before/after pair runs on the same file and machine.
#
#   bench/import_rss.sh [SPARKD_BIN...]        e.g. bench/import_rss.sh /tmp/old/sparkd build-bench/sparkd
#
# Prints "BIN accounts N snapshot_bytes B import_s T peak_rss_mib M" per binary. A private
# PostgreSQL (scripts/pg.sh, fsync off) and the temp dir are removed on exit. Figures on a shared
# machine move with its load: the load average is printed beside them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
accounts=${ACCOUNTS:-200000}
die() { echo "bench/import_rss.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
bins=("$@")
if [ ${#bins[@]} -eq 0 ]; then
  build=$root/build-bench
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target sparkd >/dev/null
  bins=("$build/sparkd")
fi
for b in "${bins[@]}"; do [ -x "$b" ] || die "no sparkd binary at $b"; done

tmp=$(mktemp -d /tmp/sparkd-bench-import.XXXXXX)
chmod 0755 "$tmp"
cleanup() {
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
conn=$("$root/scripts/pg.sh" start "$tmp/pg")
"${bins[-1]}" demo-data --accounts "$accounts" --days 0 >"$tmp/full.ndjson"
bytes=$(stat -c %s "$tmp/full.ndjson")
k=0
for b in "${bins[@]}"; do
  k=$((k + 1))
  psql "$conn" -qc "CREATE DATABASE imp$k" >/dev/null
  url="${conn/dbname=postgres/dbname=imp$k}"
  SPARKD_DATABASE_URL=$url SPARKD_MIGRATE=auto "$b" migrate >/dev/null 2>&1
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  SPARKD_DATABASE_URL=$url /usr/bin/time -v "$b" import "$tmp/full.ndjson" >"$tmp/out$k" 2>"$tmp/time$k" ||
    die "$b: import failed: $(tail -3 "$tmp/time$k")"
  echo "$b accounts $accounts snapshot_bytes $bytes" \
    "import_s $(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$tmp/time$k")" \
    "peak_rss_mib $(awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$tmp/time$k")" \
    "load $load ($(grep -o 'parse [0-9.]* s, write [0-9.]* s' "$tmp/out$k"))"
done

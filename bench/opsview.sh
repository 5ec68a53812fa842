#!/usr/bin/env bash
# The /ops page's health-factor distribution at scale: the server's histogram against what the
# page did before (every page of the watch list up to HF 10, 500 accounts a request), on a chain
# of ACCOUNTS generated accounts (default 200,000), loopback only. Figures, not assertions.
#
#   bench/opsview.sh                 ~3 minutes on a loaded 2-core machine
#   ACCOUNTS=1000000 bench/opsview.sh
#
# Prints "N key value" lines: the histogram's latency over REPEAT (20) sequential requests (median
# and max, ms, curl's time_total) and its body size; the watch-list walk's pages, bytes and wall
# time. Environment: ACCOUNTS, REPEAT, SPARKD_BIN (default build-bench/sparkd, built Release).
# The cluster, server and temp dir are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${ACCOUNTS:-200000}
repeat=${REPEAT:-20}
die() { echo "bench/opsview.sh: $*" >&2; exit 1; }
command -v curl >/dev/null || die "curl is missing"

bin=${SPARKD_BIN:-}
if [ -z "$bin" ]; then
  build=$root/build-bench
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target sparkd >/dev/null
  bin=$build/sparkd
fi
[ -x "$bin" ] || die "no sparkd binary at $bin"

tmp=$(mktemp -d /tmp/sparkd-bench-opsview.XXXXXX)
chmod 0755 "$tmp" # the cluster runs as postgres when we are root
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
conn=$("$root/scripts/pg.sh" start "$tmp/pg")
url=$conn
now() { date +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

SPARKD_DATABASE_URL=$url SPARKD_MIGRATE=auto "$bin" migrate >/dev/null 2>&1
"$bin" demo-data --accounts "$n" --days 0 >"$tmp/full.ndjson"
SPARKD_DATABASE_URL=$url "$bin" import "$tmp/full.ndjson" >/dev/null
rm -f "$tmp/full.ndjson"
key=$(SPARKD_DATABASE_URL=$url "$bin" keys create --scope ops 2>/dev/null)

port=$(free_port)
SPARKD_DATABASE_URL=$url SPARKD_LISTEN=127.0.0.1:$port SPARKD_LOG_LEVEL=warn "$bin" serve >"$tmp/serve.log" 2>&1 &
server=$!
base=http://127.0.0.1:$port
auth="Authorization: Bearer $key"
for _ in $(seq 1 1200); do
  curl -sf -H "$auth" "$base/v1/risk/1/health-factor-histogram" >/dev/null 2>&1 && break
  sleep 0.25
done
curl -sf -H "$auth" "$base/v1/risk/1/health-factor-histogram" >"$tmp/hist.json" || die "sparkd did not load $n accounts"
echo "$n load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$n histogram_accounts $(grep -o '"accounts":[0-9]*' "$tmp/hist.json" | head -1 | cut -d: -f2)"
echo "$n histogram_bytes $(stat -c %s "$tmp/hist.json")"
for _ in $(seq 1 "$repeat"); do
  curl -sf -o /dev/null -w '%{time_total}\n' -H "$auth" "$base/v1/risk/1/health-factor-histogram"
done | sort -n | awk -v n="$n" '{ v[NR] = $1 * 1000 } END { printf "%s histogram_ms_median %.1f\n%s histogram_ms_max %.1f\n", n, v[int((NR + 1) / 2)], n, v[NR] }'

# the page's former way: every page of the watch list up to HF 10
t0=$(now)
pages=0 bytes=0 cursor=""
while :; do
  curl -sf "$base/v1/accounts/1?limit=500&max_health_factor=10${cursor:+&cursor=$cursor}" >"$tmp/page.json"
  pages=$((pages + 1))
  bytes=$((bytes + $(stat -c %s "$tmp/page.json")))
  cursor=$(grep -o '"next_cursor":"[0-9a-f]*"' "$tmp/page.json" | cut -d'"' -f4 || true)
  [ -n "$cursor" ] || break
done
echo "$n watchlist_walk_pages $pages"
echo "$n watchlist_walk_bytes $bytes"
echo "$n watchlist_walk_ms $(ms "$t0" "$(now)")"

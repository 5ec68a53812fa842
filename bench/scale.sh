#!/usr/bin/env bash
# Scale benchmark: a chain of ACCOUNTS generated accounts (default 1,000,000) against
# one of SMALL accounts (default 20,000), on loopback only.
#
#   bench/scale.sh            both sizes; ~17 minutes on a loaded 2-core machine, ~3 GB of memory at peak
#   ACCOUNTS=200000 bench/scale.sh
#
# For each size it generates `sparkd demo-data --accounts N --days 0` (SparkLend Ethereum's 18
# reserves, two positions per account on average, one full snapshot), starts a private
# PostgreSQL (scripts/pg.sh, fsync off like the tests) and prints:
#   - the first import: wall time and peak RSS (/usr/bin/time -v);
#   - `sparkd serve`: time until the watch list answers, RSS once loaded;
#   - four blocks in a row, each touching 500 accounts (the 500 lowest health factors, positions
#     replaced) and every price: the import's time, and the time from its start until the API serves
#     the block (import + state cache generation). The first block after the bulk load pays
#     PostgreSQL's first touch of the freshly written pages; blocks 2-4 are the steady state;
#   - account lookups (GET /v1/accounts/1/{address}, 2,000 addresses at random) and the watch list
#     (GET /v1/accounts/1?max_health_factor=1.5&limit=100): wrk -t2 -c64 for DURATION, req/s and p99.
# Figures on a shared machine move with its load: the load average is printed beside them.
# Environment: ACCOUNTS, SMALL (0 skips the small run), DURATION (10s), SPARKD_BIN (default
# build-bench/sparkd, built Release), SPARKD_BIN_BEFORE: a second binary (e.g. main's, built
# Release elsewhere) measured in the same run on the same database, first, its figures labelled
# "before" and SPARKD_BIN's "after"; each applies its own four blocks (the next heights, prices
# moved each time). The database is migrated and first imported by the "before" binary then, and
# SPARKD_BIN migrates it before its own run. The clusters, servers and temp dir are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
accounts=${ACCOUNTS:-1000000}
small=${SMALL:-20000}
duration=${DURATION:-10s}
die() { echo "bench/scale.sh: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is missing: apt-get install wrk"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"
command -v curl >/dev/null || die "curl is missing"

bin=${SPARKD_BIN:-}
if [ -z "$bin" ]; then
  build=$root/build-bench
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target sparkd >/dev/null # incremental: never a stale binary
  bin=$build/sparkd
fi
[ -x "$bin" ] || die "no sparkd binary at $bin"
before=${SPARKD_BIN_BEFORE:-}
[ -z "$before" ] || [ -x "$before" ] || die "no sparkd binary at $before"

tmp=$(mktemp -d /tmp/sparkd-bench-scale.XXXXXX)
chmod 0755 "$tmp" # the cluster runs as postgres when we are root
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
conn=$("$root/scripts/pg.sh" start "$tmp/pg")
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wrk_line URL [SCRIPT]: "req/s p99"
wrk_line() {
  local out
  out=$(wrk -t2 -c64 -d"$duration" --latency ${2:+-s "$2"} "$1" 2>&1)
  echo "$(echo "$out" | awk '/Requests\/sec/ { print $2 }') $(echo "$out" | awk '$1 == "99%" { print $2 }')"
}

# apply_block N LABEL BIN URL DIR BASE K J: imports block K and times it until the API serves it
apply_block() {
  local n=$1 label=$2 b=$3 url=$4 dir=$5 base=$6 k=$7 j=$8 want t0 t1
  want=$(cat "$dir/block${k}_number")
  echo "$n $label load_before_block $(load)"
  t0=$(now)
  SPARKD_DATABASE_URL=$url "$b" import "$dir/block$k.json" >"$dir/block.out" || die "block import: $(cat "$dir/block.out")"
  t1=$(now)
  for _ in $(seq 1 600); do
    curl -sf "$base/v1/accounts/1?limit=1" | grep -q "\"as_of\":{\"chain_id\":1,\"block_number\":$want," && break
    sleep 0.01
  done
  curl -sf "$base/v1/accounts/1?limit=1" | grep -q "\"as_of\":{\"chain_id\":1,\"block_number\":$want," || die "block $want never served"
  echo "$n $label block${j}_500_accounts_all_prices_import_s $(secs "$t0" "$t1")"
  echo "$n $label block${j}_500_accounts_all_prices_served_s $(secs "$t0" "$(now)")"
}

# serve_run N LABEL BIN URL DIR K: starts BIN on the database, measures its load, applies blocks
# 4K-3 to 4K (the first run also picks the 2,000 addresses and writes blocks 1 to 8), then the lookups and
# the watch list under wrk; prints "N LABEL key value" lines.
serve_run() {
  local n=$1 label=$2 b=$3 url=$4 dir=$5 k=$6
  local port t0 t1
  port=$(free_port)
  t0=$(now)
  SPARKD_DATABASE_URL=$url SPARKD_LISTEN=127.0.0.1:$port SPARKD_LOG_LEVEL=warn "$b" serve >"$dir/serve.log" 2>&1 &
  server=$!
  local base=http://127.0.0.1:$port
  for _ in $(seq 1 1200); do
    curl -sf "$base/v1/accounts/1?limit=1" 2>/dev/null | grep -q '"data":\[{' && break
    sleep 0.25
  done
  curl -sf "$base/v1/accounts/1?limit=1" | grep -q '"data":\[{' || die "sparkd did not load $n accounts"
  echo "$n $label serve_loaded_s $(secs "$t0" "$(now)")"
  echo "$n $label sparkd_rss_mib $(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$server/status)"

  if [ "$k" = 1 ]; then
    # 2,000 addresses for lookups: four pages of the watch list, then the 500 lowest for the blocks
    local cursor="" page
    : >"$dir/addrs"
    for _ in 1 2 3 4; do
      page=$(curl -sf "$base/v1/accounts/1?limit=500${cursor:+&cursor=$cursor}")
      echo "$page" | grep -o '"address":"0x[0-9a-fA-F]*"' | cut -d'"' -f4 >>"$dir/addrs"
      cursor=$(echo "$page" | grep -o '"next_cursor":"[0-9a-f]*"' | cut -d'"' -f4 || true)
      [ -n "$cursor" ] || break
    done
    python3 - "$dir" <<'EOF'
import json, sys
d = sys.argv[1]
head = open(f"{d}/head.json").read()
dec = json.JSONDecoder()
prices0, _ = dec.raw_decode(head, head.index('"prices":') + 9)
block, _ = dec.raw_decode(head, head.index('"block":') + 8)
weth = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
usdc = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
addrs = [a.strip() for a in open(f"{d}/addrs") if a.strip()][:500]
for k in range(1, 9):
    prices = [dict(p, price=str(int(p["price"]) * (100 + k) // 100)) for p in prices0]
    accounts = [{"address": a, "emode_category": 0, "positions": [
        {"asset": weth, "scaled_a_token_balance": str(10**18 + k), "scaled_variable_debt": "0", "collateral": True},
        {"asset": usdc, "scaled_a_token_balance": "0", "scaled_variable_debt": str(1000000000 + i), "collateral": False}]}
        for i, a in enumerate(addrs)]
    n = block["number"] + k
    snap = {"format": "sparkd.snapshot/1", "chain_id": 1,
            "block": {"number": n, "hash": "0x" + format(n, "064x"), "timestamp": block["timestamp"] + 12 * k},
            "prices": prices, "accounts_mode": "delta", "accounts": accounts}
    json.dump(snap, open(f"{d}/block{k}.json", "w"))
    print(n, file=open(f"{d}/block{k}_number", "w"))
lua = open(f"{d}/lookup.lua", "w")
all_addrs = [a.strip() for a in open(f"{d}/addrs") if a.strip()]
lua.write("paths = {\n" + ",\n".join(f'"/v1/accounts/1/{a}"' for a in all_addrs) + "}\n")
lua.write("n = #paths\nmath.randomseed(os.time())\n")
lua.write('request = function() return wrk.format("GET", paths[math.random(n)]) end\n')
EOF
  fi
  # four blocks per binary: the first after a bulk load pays PostgreSQL's first touch of the
  # freshly written pages (hint bits, cold cache); the next three are the steady state
  local want j
  for j in 1 2 3 4; do
  apply_block "$n" "$label" "$b" "$url" "$dir" "$base" $(((k - 1) * 4 + j)) "$j"
  done
  echo "$n $label sparkd_rss_mib_after_block $(awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' /proc/$server/status)"
  echo "$n $label load_before_wrk $(load)"
  echo "$n $label lookup_reqs_p99 $(wrk_line "$base" "$dir/lookup.lua")"
  echo "$n $label watchlist_reqs_p99 $(wrk_line "$base/v1/accounts/1?max_health_factor=1.5&limit=100")"
  echo "$n $label load_after_wrk $(load)"
  kill "$server" && wait "$server" 2>/dev/null || true
  server=
}

# run N: one size, printed as "N LABEL key value" lines (the import's as "N key value")
run() {
  local n=$1 db=s$1 dir=$tmp/run$1
  mkdir -p "$dir"
  psql "$conn" -qc "CREATE DATABASE $db" >/dev/null
  local url="${conn/dbname=postgres/dbname=$db}"
  # with a "before" binary the database is at its migrations first (a binary refuses a database
  # migrated past what it knows), and SPARKD_BIN's own migrations run between the two serve runs
  local first=${before:-$bin}
  SPARKD_DATABASE_URL=$url SPARKD_MIGRATE=auto "$first" migrate >/dev/null 2>&1
  "$bin" demo-data --accounts "$n" --days 0 >"$dir/full.ndjson"
  echo "$n snapshot_bytes $(stat -c %s "$dir/full.ndjson")"
  echo "$n load_before_import $(load)"
  SPARKD_DATABASE_URL=$url /usr/bin/time -v "$first" import "$dir/full.ndjson" >"$dir/import.out" 2>"$dir/import.time"
  echo "$n ${before:+before }first_import_s $(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$dir/import.time")"
  echo "$n ${before:+before }first_import_peak_rss_mib $(awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$dir/import.time")"
  head -c 65536 "$dir/full.ndjson" >"$dir/head.json"
  rm -f "$dir/full.ndjson"

  local k=1 label b
  for label in ${before:+before} after; do
    b=$bin
    [ "$label" = before ] && b=$before
    if [ "$label" = after ] && [ -n "$before" ]; then
      local t0
      t0=$(now)
      SPARKD_DATABASE_URL=$url SPARKD_MIGRATE=auto "$bin" migrate >"$dir/migrate.out" 2>&1 || die "$bin migrate failed on the database $before wrote: $(cat "$dir/migrate.out")"
      echo "$n after migrate_from_before_s $(secs "$t0" "$(now)")"
    fi
    serve_run "$n" "$label" "$b" "$url" "$dir" "$k"
    k=$((k + 1))
  done
  psql "$conn" -qc "DROP DATABASE $db" >/dev/null
  rm -rf "$dir"
}

echo "bench/scale.sh: $(nproc) CPUs, load $(load), sparkd $bin${before:+, before: $before}"
run "$accounts"
[ "$small" = 0 ] || run "$small"

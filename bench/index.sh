#!/usr/bin/env bash
# Indexer benchmark: `sparkd index` against the anvil Aave v3 market (tests/chain/aave_market.mjs)
# with USERS active users driven by tests/chain/drive.mjs (default 2000 users, 200 actions per
# block), into a private PostgreSQL.
#
#   bench/index.sh [USERS]
#
# Prints:
#   1. catch-up with one applied snapshot per block (SPARKD_INDEX_STEP_BLOCKS=1): blocks/s and
#      account re-reads/s;
#   2. catch-up folding the whole range into snapshots of up to 1000 blocks (the default);
#   3. follow mode: `sparkd index` and `sparkd serve` running, a new head mined, time until
#      GET /v1/chains serves it (bench/index_follow.mjs), over 20 heads.
# Figures depend on the machine's load (printed beside them). The cluster, anvil and the temp dir
# are removed on exit. Environment: SPARKD_BIN (default: build-bench/sparkd, Release).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
users=${1:-2000}
die() { echo "bench/index.sh: $*" >&2; exit 1; }
command -v node >/dev/null || die "node is missing"

bin=${SPARKD_BIN:-}
if [ -z "$bin" ]; then
  build=$root/build-bench
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target sparkd >/dev/null
  bin=$build/sparkd
fi
[ -x "$bin" ] || die "no sparkd binary at $bin"

tmp=$(mktemp -d /tmp/sparkd-bench-index.XXXXXX)
chmod 0755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

url=$("$root/scripts/pg.sh" start "$tmp/pg")
mkfifo "$tmp/market.in"
node "$root/tests/chain/aave_market.mjs" --anvil --network "$tmp/net.json" --addresses "$tmp/addr.json" \
  --lifetime 3600 <"$tmp/market.in" >"$tmp/market.out" 2>&1 &
pids+=($!)
exec 9>"$tmp/market.in" # held open: closing it stops anvil
for _ in $(seq 300); do grep -q '^RPC_URL=' "$tmp/market.out" && break; sleep 0.2; done
rpc=$(sed -n 's/^RPC_URL=//p' "$tmp/market.out")
[ -n "$rpc" ] || { cat "$tmp/market.out" >&2; die "the market did not start"; }

echo "driving $users users (200 actions per block) ..."
t0=$(date +%s.%N)
node "$root/tests/chain/drive.mjs" --rpc "$rpc" --addresses "$tmp/addr.json" --seed 42 --users "$users" \
  --steps $((users * 2)) --batch 200 --out "$tmp/drive.json" --quiet >/dev/null
echo "  $(node -e "const s=require(process.argv[1]); console.log(s.blocks + \" blocks, \" + s.users + \" users, head \" + s.head)" "$tmp/drive.json") in $(echo "$(date +%s.%N) - $t0" | bc) s"

export SPARKD_RPC_URL=$rpc SPARKD_NETWORK_FILE=$tmp/net.json SPARKD_LOG_LEVEL=warn SPARKD_MIGRATE=auto
run_once() { # name, step blocks
  psql "$url" -qc "CREATE DATABASE $1" >/dev/null
  local db=${url/dbname=postgres/dbname=$1}
  local out
  out=$(SPARKD_DATABASE_URL=$db SPARKD_INDEX_STEP_BLOCKS=$2 "$bin" index --once)
  echo "$out"
  echo "$out" | sed -E 's/.*: ([0-9]+) snapshots applied covering ([0-9]+) blocks, ([0-9]+) account reads, .* in ([0-9.]+) s.*/\1 \2 \3 \4/' |
    (read -r snaps blocks accts secs
     echo "  => $(echo "scale=1; $blocks / $secs" | bc) blocks/s, $(echo "scale=1; $accts / $secs" | bc) account reads/s, $snaps snapshots (load: $(cut -d' ' -f1-3 /proc/loadavg))")
}
echo "catch-up, one snapshot per block:"
run_once bench_step1 1
echo "catch-up, snapshots of up to 1000 blocks:"
run_once bench_step1000 1000

echo "follow mode:"
db=${url/dbname=postgres/dbname=bench_step1}
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
SPARKD_DATABASE_URL=$db SPARKD_INDEX_POLL_MS=20 "$bin" index 2>"$tmp/index.log" &
pids+=($!)
SPARKD_DATABASE_URL=$db SPARKD_LISTEN=127.0.0.1:$port "$bin" serve 2>"$tmp/serve.log" &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
node "$root/bench/index_follow.mjs" "$rpc" "http://127.0.0.1:$port" 31337 20
echo "  (SPARKD_INDEX_POLL_MS=20; load: $(cut -d' ' -f1-3 /proc/loadavg))"

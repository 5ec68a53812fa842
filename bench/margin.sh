#!/usr/bin/env bash
# Portfolio-margin benchmark (Spark Prime, risk/margin.h).
#
#   bench/margin.sh [PORTFOLIOS]      default 10000
#
# 1. The engine (bench/margin_bench.c): PORTFOLIOS portfolios of 12 legs over 6 underlyings
#    (custody spot, exchange perps and cash, SparkLend-like supply and debt, a USD loan), margined
#    once, then all recomputed after a price update that moves every underlying (target < 1 s).
# 2. The what-if route: a private cluster (scripts/pg.sh, fsync off), the fixture snapshot with
#    fresh prices plus four more priced assets, margin parameters with 6 underlyings and 4 venues,
#    one portfolio of 12 legs; then `wrk -t2 -c32 -d10s` POSTs
#    /v1/partner/portfolios/1/margin/quote (a removed venue and a changed price; computed, never
#    stored) and prints req/s and latency (target >= 5,000 req/s); the same for
#    GET /v1/partner/portfolios/1/margin (computed and signed on every read, stored only when the
#    result changed) and, for scale, GET /v1/accounts/1/0x1111... (a plain account lookup served
#    from the state cache). With SPARKD_BIN_BEFORE (another build, e.g. the previous commit's),
#    each route is measured against it too, on the same database in the same run, alternating.
# 3. The batch pass through the database (partner_margin_recompute_all, bench/margin_db.c):
#    PORTFOLIOS portfolios of 12 legs over the 6 underlyings inserted by SQL; a first pass (every
#    portfolio gets its first result: a band "change" each, with history and outbox rows), then
#    every underlying's oracle price drops 7% and the pass is timed again (target < 1 s). The
#    passes run in one process, like the worker's, so the pass after the price update rereads only
#    the legs that changed (none); the "before" build's passes run one process each, as before.
# Environment: SPARKD_BIN (default: build-bench/sparkd, built Release if missing), SPARKD_BIN_BEFORE
# (optional: a second binary measured alongside, same schema or older), BENCH_MARGIN and
# BENCH_MARGIN_DB (default: build-bench/bench/...), BENCH_MARGIN_DB_BEFORE (optional: the batch
# pass of the "before" build, run first on the same rows, whose results are then reset), DURATION
# (wrk seconds, default 10).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
n=${1:-10000}
dur=${DURATION:-10}
die() { echo "bench/margin.sh: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"
command -v node >/dev/null || die "node is missing"

build=$root/build-bench
bin=${SPARKD_BIN:-}
eng=${BENCH_MARGIN:-}
engdb=${BENCH_MARGIN_DB:-}
if [ -z "$bin" ] || [ -z "$eng" ] || [ -z "$engdb" ]; then
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target sparkd bench_margin bench_margin_db >/dev/null
  bin=${bin:-$build/sparkd}
  eng=${eng:-$build/bench/bench_margin}
  engdb=${engdb:-$build/bench/bench_margin_db}
fi
[ -x "$bin" ] || die "no sparkd binary at $bin"
[ -x "$eng" ] || die "no bench_margin at $eng"

echo "== engine"
"$eng" "$n"

tmp=$(mktemp -d /tmp/sparkd-bench-margin.XXXXXX)
chmod 0755 "$tmp"
spid=
stop_sparkd() {
  [ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null || true
  spid=
}
cleanup() {
  stop_sparkd
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  [ -n "${KEEP:-}" ] || rm -rf "$tmp"
}
trap cleanup EXIT

url=$("$root/scripts/pg.sh" start "$tmp/pg")
export SPARKD_DATABASE_URL=$url SPARKD_LOG_LEVEL=warn SPARKD_LOG_FORMAT=text
psql_() { psql -X -q -t -A "$url" -c "$1"; }
# with a "before" binary, it sets up and is measured first, on the schema it knows; then the
# binary under test migrates (its newer migrations) and is measured on the same data
first=${SPARKD_BIN_BEFORE:-$bin}
"$first" migrate >/dev/null
now=$(date +%s)
node -e '
  const fs = require("fs");
  const s = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const now = Number(process.argv[2]);
  s.block.timestamp = now;
  for (const p of s.prices) p.updated_at = now;
  process.stdout.write(JSON.stringify(s));
' "$root/tests/fixtures/snapshot_basic.json" "$now" >"$tmp/s1.json"
"$first" import "$tmp/s1.json" >/dev/null 2>&1 || die "import failed"
# four more underlyings, priced like the oracle would
psql_ "
INSERT INTO assets (chain_id, address, symbol, decimals) VALUES
  (1, '0x00000000000000000000000000000000000000b1', 'BTC', 8),
  (1, '0x00000000000000000000000000000000000000b2', 'SOL', 9),
  (1, '0x00000000000000000000000000000000000000b3', 'LINK', 18),
  (1, '0x00000000000000000000000000000000000000b4', 'AVAX', 18);
INSERT INTO prices (chain_id, asset, price, source, updated_at, block_number)
SELECT 1, a, p, '0x0000000000000000000000000000000000000001', $now, 1 FROM (VALUES
  ('0x00000000000000000000000000000000000000b1', 10000000000000), ('0x00000000000000000000000000000000000000b2', 15000000000),
  ('0x00000000000000000000000000000000000000b3', 2000000000), ('0x00000000000000000000000000000000000000b4', 3000000000)) v(a, p);" >/dev/null
key=$("$first" keys create --scope partner --partner bench 2>/dev/null | head -1)
admin=$("$first" keys create --scope admin 2>/dev/null | head -1)
"$first" keys signing-create "$tmp/signing.key" >/dev/null 2>&1 || die "no signing key"
export SPARKD_SIGNING_KEY_FILE=$tmp/signing.key

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_sparkd() { # start_sparkd BINARY
  SPARKD_LISTEN=127.0.0.1:$port "$1" serve >>"$tmp/sparkd.log" 2>&1 &
  spid=$!
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}
start_sparkd "$first"
api() { # api METHOD PATH KEY BODY
  curl -fsS -X "$1" "http://127.0.0.1:$port$2" -H "Authorization: Bearer $3" -H "Content-Type: application/json" \
    -H "Idempotency-Key: bench-$RANDOM-$RANDOM" ${4:+--data "$4"}
}
und() { echo "{\"symbol\":\"$1\",\"chain_id\":1,\"asset\":\"$2\",\"range_bps\":$3,\"basis_bps\":100,\"spread_bps\":10,\"sigma_bps\":300,\"adv_usd\":\"1000000000\",\"horizon_days\":1}"; }
rho='[[10000,8000,6000,6000,6000,6000],[8000,10000,6000,6000,6000,6000],[6000,6000,10000,6000,6000,6000],[6000,6000,6000,10000,6000,6000],[6000,6000,6000,6000,10000,6000],[6000,6000,6000,6000,6000,10000]]'
params="{\"underlyings\":[$(und BTC 0x00000000000000000000000000000000000000b1 1500),$(und ETH 0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2 2100),$(und STETH 0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0 2200),$(und SOL 0x00000000000000000000000000000000000000b2 3000),$(und LINK 0x00000000000000000000000000000000000000b3 3000),$(und AVAX 0x00000000000000000000000000000000000000b4 3000)],
\"cash_assets\":[{\"chain_id\":1,\"asset\":\"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48\"},{\"chain_id\":1,\"asset\":\"0x6b175474e89094c44da98b954eedeac495271d0f\"}],
\"venues\":[{\"name\":\"custodian\",\"charge_bps\":50,\"max_staleness_seconds\":3600},{\"name\":\"exchange\",\"charge_bps\":300,\"max_staleness_seconds\":3600},{\"name\":\"sparklend\",\"charge_bps\":150,\"max_staleness_seconds\":3600},{\"name\":\"spark-prime\",\"charge_bps\":0,\"max_staleness_seconds\":86400}],
\"correlations\":$rho,\"tail_weight_bps\":3500,\"gamma_bps\":10000,\"lambda_bps\":2500,\"hedge_floor_net_bps\":200,\"hedge_floor_hedged_bps\":100,\"impact_y_bps\":5000,\"participation_bps\":1000,\"im_multiplier_bps\":15000,
\"bands\":{\"initial_bps\":15000,\"warning_bps\":15000,\"margin_call_bps\":12500,\"liquidation_bps\":10500,\"return_to_bps\":13500,\"cure_period_seconds\":86400},\"max_price_staleness_seconds\":3600,
\"rate\":{\"target_spread_bps\":100,\"lender_ref_bps\":450,\"lender_min_bps\":50,\"clamp_lo_bps\":300,\"clamp_hi_bps\":2500,\"funding_z_bps\":10000,\"util_k_bps\":200,\"util_kink_bps\":8000,\"util_max_bps\":9500,\"util_slope2_bps\":5000,\"risk_hs_bps\":[15000,12500],\"risk_premium_bps\":[50,100],\"max_daily_change_bps\":25}}"
api PUT /v1/admin/margin-params "$admin" "$params" >/dev/null
api POST /v1/partner/portfolios "$key" '{"external_id":"bench-1","borrower":"fund","utilization_bps":8000}' >/dev/null
asof=$(date -u +%Y-%m-%dT%H:%M:%SZ)
spot() { echo "{\"kind\":\"$1\",\"underlying\":\"$2\",\"quantity\":\"$3\"}"; }
perp() { echo "{\"kind\":\"perp\",\"underlying\":\"$1\",\"quantity\":\"$2\",\"entry_price\":\"$3\",\"mark_price\":\"$3\",\"funding\":\"10\",\"yield\":{\"kind\":\"basis\",\"bps\":1000,\"sd_bps\":300}}"; }
api POST /v1/partner/portfolios/1/legs "$key" "{\"venue\":\"custodian\",\"as_of\":\"$asof\",\"reference\":\"c\",\"legs\":[$(spot custody BTC 10),$(spot custody ETH 200),$(spot custody STETH 100),$(spot custody SOL 2000),$(spot custody LINK 5000)]}" >/dev/null
api POST /v1/partner/portfolios/1/legs "$key" "{\"venue\":\"exchange\",\"as_of\":\"$asof\",\"reference\":\"e\",\"legs\":[$(perp BTC -8 100000),$(perp ETH -150 3000.12345678),$(perp SOL -1000 150),$(spot spot USD 200000),$(spot spot AVAX 3000)]}" >/dev/null
api POST /v1/partner/portfolios/1/legs "$key" "{\"venue\":\"spark-prime\",\"as_of\":\"$asof\",\"reference\":\"p\",\"legs\":[$(spot debt USD 1500000),$(spot debt ETH 10)]}" >/dev/null
legs=$(api GET /v1/partner/portfolios/1/margin "$key" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const j=JSON.parse(s);console.log(j.legs.length+" legs, band "+j.band+", HS "+j.health_score_bps+" bps, MM "+j.maintenance_margin_usd)})')
echo "== http (one portfolio: $legs)"

cat >"$tmp/quote.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"remove_venues":["exchange"],"prices":[{"underlying":"BTC","price":"95000"}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $key"
LUA
cat >"$tmp/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $key"
LUA
run() { # run LABEL SCRIPT PATH
  out=$(wrk -t2 -c32 -d"${dur}s" --latency -s "$2" "http://127.0.0.1:$port$3" 2>&1)
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
  p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
  bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "$1: ${rps} req/s, p50 ${p50}, p99 ${p99}${bad:+, non-2xx $bad}"
}
acct=/v1/accounts/1/0x1111111111111111111111111111111111111111
curl -fs "http://127.0.0.1:$port$acct" >/dev/null || die "no account lookup"
seq0=$(psql_ "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = 1")
routes() { # routes LABEL
  run "$1 POST .../margin/quote (what-if, not stored)" "$tmp/quote.lua" /v1/partner/portfolios/1/margin/quote
  run "$1 GET  .../margin (computed, signed)" "$tmp/get.lua" /v1/partner/portfolios/1/margin
  run "$1 GET  $acct (account lookup)" "$tmp/get.lua" "$acct"
  echo "$1 load average: $(cut -d' ' -f1-3 /proc/loadavg)"
}
seqs() { psql_ "SELECT sequence FROM portfolio_margin_latest WHERE portfolio_id = 1"; }
if [ -n "${SPARKD_BIN_BEFORE:-}" ]; then
  seq0=$(seqs)
  routes "before:"
  echo "before: GET margin sequence $seq0 -> $(seqs) over the run"
  stop_sparkd
  "$bin" migrate >/dev/null
  start_sparkd "$bin"
fi
seq0=$(seqs)
routes "after: "
echo "after:  GET margin sequence $seq0 -> $(seqs) over the run"
stop_sparkd

echo "== batch recompute through the database ($n portfolios x 12 legs x 6 underlyings)"
pid=$(psql_ "SELECT partner_id FROM partners WHERE name = 'bench'")
psql_ "
INSERT INTO partner_portfolios (partner_id, external_id, borrower, utilization_bps)
SELECT $pid, 'b' || g, 'fund', 8000 FROM generate_series(1, $n) g;
INSERT INTO portfolio_legs (portfolio_id, partner_id, venue, leg_no, kind, underlying, quantity, entry_price,
  mark_price, funding, as_of, reference)
SELECT p.portfolio_id, p.partner_id, v.venue, v.leg_no, v.kind, v.und, (v.q * (0.5 + random()))::bigint, v.px, v.px,
  v.f, $now, 'bench'
FROM partner_portfolios p CROSS JOIN (VALUES
  ('custodian', 0, 'custody', 'BTC', 1000000000, 0, 0), ('custodian', 1, 'custody', 'ETH', 20000000000, 0, 0),
  ('custodian', 2, 'custody', 'STETH', 10000000000, 0, 0), ('custodian', 3, 'custody', 'SOL', 200000000000, 0, 0),
  ('custodian', 4, 'custody', 'LINK', 500000000000, 0, 0),
  ('exchange', 0, 'perp', 'BTC', -800000000, 10000000000000, 1000000000),
  ('exchange', 1, 'perp', 'ETH', -15000000000, 300000000000, 1000000000),
  ('exchange', 2, 'perp', 'SOL', -100000000000, 15000000000, 1000000000),
  ('exchange', 3, 'spot', 'USD', 20000000000000, 0, 0), ('exchange', 4, 'spot', 'AVAX', 300000000000, 0, 0),
  ('spark-prime', 0, 'debt', 'USD', 150000000000000, 0, 0), ('spark-prime', 1, 'debt', 'ETH', 1000000000, 0, 0))
  AS v(venue, leg_no, kind, und, q, px, f)
WHERE p.external_id ~ '^b[0-9]+$';
ANALYZE portfolio_legs; ANALYZE partner_portfolios;" >/dev/null
psql_ "CREATE TABLE bench_prices AS SELECT * FROM prices" >/dev/null
drop_sql() {
  echo "UPDATE prices SET price = price * 93 / 100, updated_at = $(date +%s) WHERE chain_id = 1 AND asset IN
  ('0x00000000000000000000000000000000000000b1', '0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2',
   '0x7f39c581f595b53c5cb19bd0b3f8da6c935e2ca0', '0x00000000000000000000000000000000000000b2',
   '0x00000000000000000000000000000000000000b3', '0x00000000000000000000000000000000000000b4');
  ANALYZE portfolio_margin_latest;"
}
drop_prices() { psql_ "$(drop_sql)" >/dev/null; }
if [ -n "${BENCH_MARGIN_DB_BEFORE:-}" ]; then
  # the previous pass on the same rows, then the results, history, outbox and prices as they were
  echo "before: first results:"
  "$BENCH_MARGIN_DB_BEFORE"
  drop_prices
  echo "before: after a price update (every underlying -7%):"
  "$BENCH_MARGIN_DB_BEFORE"
  psql_ "DELETE FROM portfolio_margin_history WHERE portfolio_id > 1; DELETE FROM portfolio_margin_latest WHERE portfolio_id > 1;
    DELETE FROM webhook_outbox WHERE position_id < -1;
    UPDATE prices p SET price = b.price, updated_at = b.updated_at FROM bench_prices b
    WHERE p.chain_id = b.chain_id AND p.asset = b.asset" >/dev/null
  psql_ "VACUUM ANALYZE portfolio_margin_latest" >/dev/null
fi
# one process, as the worker runs its passes: the first pass reads every leg, the next ones only
# the legs that changed since (none here), so the timed pass after the price update is the worker's
"$engdb" "pass:first results (every portfolio enters a band: full result, history and outbox rows each):" \
  "sql:$(drop_sql)" "pass:after a price update (every underlying -7%):" \
  "pass:again, nothing changed since (every result equals its stored one):"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores shared with other jobs)"

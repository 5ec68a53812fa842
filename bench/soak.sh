#!/usr/bin/env bash
# Soak: sparkd under a steady mixed load at 80% of its measured maximum, with an import every 12 s,
# for SOAK_SECONDS (default 600); prints per minute the rate, p50/p99, errors and RSS, then whether
# p99 and RSS stayed flat.
#
#   bench/soak.sh                        10 minutes
#   SOAK_SECONDS=180 bench/soak.sh       3 minutes
#   SOAK_REPLICA=1 bench/soak.sh         sparkd reads from a streaming replica (SPARKD_DATABASE_READ_URL)
#
# It starts a private PostgreSQL (scripts/pg.sh; with SOAK_REPLICA=1 also a replica of it) and
# `sparkd serve` on a free 127.0.0.1 port, imports demo data (`sparkd demo-data`: the first snapshot
# with every account, then one delta per import), makes a partner key and PARTNER_POSITIONS
# positions, and writes a wrk Lua script that mixes, per request at random:
#   30% GET /v1/markets/1/reserves           (the state cache)
#   30% GET /v1/accounts/1/{random account}  (the cache and the engine)
#   20% POST /v1/quotes                      (3 actions on a random account)
#   10% GET /v1/partner/positions            (partner key; the database)
#   10% GET /v1/partner/positions/{id}/ltv   (partner key; the database, signed when a key is set)
# 1. the maximum: MAX_SECONDS (20) of wrk with no pause between requests;
# 2. the pace: wrk's delay() holds each connection so that the whole runs at SOAK_LOAD percent (80)
#    of that maximum (calibrated in two short runs, since the delay adds to the latency);
# 3. the soak: SOAK_SECONDS in slices of SOAK_SLICE (60) seconds, one wrk run each (a reconnect
#    between slices), while a loop imports the next demo snapshot every IMPORT_EVERY (12) seconds;
#    after each slice: req/s, p50, p99, non-2xx + socket errors, sparkd's RSS, imports so far.
# Errors are any non-2xx answer, socket error (connect, read, write, timeout) or failed import.
# "Flat": the last slice's p99 at most 1.5x the first's (plus 1 ms, for noise on a busy machine), and
# RSS growth after the first slice under 10% (the first slice warms the caches and the heap).
#
# Environment: SOAK_SECONDS (600), SOAK_SLICE (60), SOAK_LOAD (80), MAX_SECONDS (20), IMPORT_EVERY (12),
# THREADS (2 wrk threads), CONNECTIONS (32), DEMO_ACCOUNTS (20000), PARTNER_POSITIONS (50),
# SOAK_REPLICA (0), SPARKD_BENCH_BUILD_DIR (build-bench, built Release if missing), SPARKD_THREADS.
# Everything listens on 127.0.0.1, every wait is bounded, and the servers and temp dir are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPARKD_BENCH_BUILD_DIR:-$root/build-bench}
soak_s=${SOAK_SECONDS:-600}
slice_s=${SOAK_SLICE:-60}
load_pct=${SOAK_LOAD:-80}
max_s=${MAX_SECONDS:-20}
import_every=${IMPORT_EVERY:-12}
wrk_threads=${THREADS:-2}
wrk_conns=${CONNECTIONS:-32}
accounts=${DEMO_ACCOUNTS:-20000}
npos=${PARTNER_POSITIONS:-50}
replica=${SOAK_REPLICA:-0}

die() { echo "bench/soak.sh: $*" >&2; exit 1; }
[ "$soak_s" -ge "$slice_s" ] || die "SOAK_SECONDS=$soak_s is shorter than a slice (SOAK_SLICE=$slice_s)"

need_pkg() { # need_pkg COMMAND DEBIAN_PACKAGE: installs the package when the command is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "$1 is missing: apt-get install $2"
  apt-get install -y -q "$2" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null; } || die "could not install $2"
}
need_pkg wrk wrk
need_pkg curl curl

if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
fi
cmake --build "$build" --target sparkd -j"$(nproc)" >"$build/soak-build.log" 2>&1 \
  || { tail -30 "$build/soak-build.log" >&2; die "build failed (log: $build/soak-build.log)"; }
sparkd_bin=$build/sparkd
[ -x "$sparkd_bin" ] || die "no binary at $sparkd_bin"

tmp=$(mktemp -d /tmp/sparkd-soak.XXXXXX)
chmod 0755 "$tmp"
sparkd_pid= importer_pid=
cleanup() {
  set +e
  if [ -n "$importer_pid" ]; then kill "$importer_pid" 2>/dev/null; wait "$importer_pid" 2>/dev/null; fi
  if [ -n "$sparkd_pid" ]; then kill "$sparkd_pid" 2>/dev/null; wait "$sparkd_pid" 2>/dev/null; fi
  "$root/scripts/pg.sh" stop "$tmp/pgr" >/dev/null 2>&1
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$(shuf -i 20000-60999 -n 1)
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

wait_for() { # wait_for URL SECONDS: until URL answers 2xx
  local i
  for i in $(seq 1 $(($2 * 10))); do
    curl -fs -o /dev/null --max-time 1 "$1" && return 0
    sleep 0.1
  done
  return 1
}

# ---- PostgreSQL, data, sparkd ------------------------------------------------------------------
db_url=$(timeout 120 "$root/scripts/pg.sh" start "$tmp/pg") || die "PostgreSQL did not start"
SPARKD_DATABASE_URL=$db_url SPARKD_LOG_LEVEL=warn "$sparkd_bin" migrate >/dev/null 2>&1 || die "sparkd migrate failed"
imports_needed=$(((soak_s + 2 * max_s) / import_every + 2))
days=$(((imports_needed + 3) / 4 + 1)) # demo-data: one delta every 6 hours
"$sparkd_bin" demo-data --accounts "$accounts" --days "$days" >"$tmp/demo.ndjson" || die "sparkd demo-data failed"
total_snaps=$(wc -l <"$tmp/demo.ndjson")
head -n 1 "$tmp/demo.ndjson" | SPARKD_DATABASE_URL=$db_url timeout 300 "$sparkd_bin" import - >"$tmp/import.log" 2>&1 \
  || { tail -5 "$tmp/import.log" >&2; die "the first import failed"; }
read_env=()
if [ "$replica" = 1 ]; then
  read_url=$(timeout 120 "$root/scripts/pg.sh" replica "$tmp/pgr" "$tmp/pg") || die "the replica did not start"
  read_env=("SPARKD_DATABASE_READ_URL=$read_url")
fi
port=$(free_port)
sparkd=http://127.0.0.1:$port
env SPARKD_LISTEN=127.0.0.1:"$port" SPARKD_DATABASE_URL="$db_url" SPARKD_LOG_LEVEL=warn "${read_env[@]}" \
  "$sparkd_bin" serve >"$tmp/sparkd.log" 2>&1 &
sparkd_pid=$!
wait_for "$sparkd/readyz" 60 || { tail -20 "$tmp/sparkd.log" >&2; die "sparkd did not become ready within 60 s"; }
for i in $(seq 1 600); do
  curl -fs --max-time 1 "$sparkd/v1/accounts/1?limit=1" 2>/dev/null | grep -q '"address"' && break
  sleep 0.1
done

# accounts: up to 2,000 addresses from the watch list
cursor= n=0
: >"$tmp/addresses.txt"
while :; do
  page=$(curl -fsS --max-time 10 "$sparkd/v1/accounts/1?limit=500${cursor:+&cursor=$cursor}") \
    || die "GET /v1/accounts/1 failed"
  grep -o '"address":"0x[0-9a-fA-F]*"' <<<"$page" | cut -d'"' -f4 >>"$tmp/addresses.txt"
  cursor=$(grep -o '"next_cursor":"[0-9a-f]*"' <<<"$page" | cut -d'"' -f4 || true)
  n=$(wc -l <"$tmp/addresses.txt")
  [ -n "$cursor" ] && [ "$n" -lt 2000 ] || break
done
[ "$n" -gt 0 ] || die "no accounts listed on chain 1"

# a partner and its positions (100 WETH against 50,000 USDC each)
key=$(SPARKD_DATABASE_URL=$db_url "$sparkd_bin" keys create --scope partner --partner soak 2>/dev/null | head -n 1)
[ -n "$key" ] || die "sparkd keys create failed"
: >"$tmp/positions.txt"
for i in $(seq 1 "$npos"); do
  body='{"external_id":"soak-'$i'","borrower":"fund","custodian":"anchorage","collateral":[{"chain_id":1,'
  body+='"asset":"0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2","amount":"100000000000000000000","haircut_bps":1000}],'
  body+='"debt":{"chain_id":1,"asset":"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48","principal":"50000000000",'
  body+='"apr_bps":500,"accrual_start":"2026-01-01T00:00:00Z"},"thresholds":{"warning_bps":6500,'
  body+='"margin_call_bps":7000,"liquidation_bps":8000,"return_to_bps":6000},"cure_period_seconds":259200,'
  body+='"max_price_staleness_seconds":3600}'
  out=$(curl -fsS --max-time 10 -H "Authorization: Bearer $key" -H "Idempotency-Key: soak-$i" \
    -H 'Content-Type: application/json' -d "$body" "$sparkd/v1/partner/positions") \
    || die "creating partner position $i failed"
  grep -o '"id":"\?[0-9]*' <<<"$out" | head -n 1 | grep -o '[0-9]*$' >>"$tmp/positions.txt"
done
first_pos=$(head -n 1 "$tmp/positions.txt")
curl -fsS --max-time 10 -o /dev/null -H "Authorization: Bearer $key" "$sparkd/v1/partner/positions/$first_pos/ltv" \
  || die "GET /v1/partner/positions/$first_pos/ltv failed"

# ---- the Lua script: the mix, and a pace set by the first argument (ms between a connection's requests) ----
{
  echo "local accounts = {"
  sed 's|.*|  "&",|' "$tmp/addresses.txt"
  echo "}"
  echo "local positions = {"
  sed 's|.*|  "&",|' "$tmp/positions.txt"
  echo "}"
  cat <<EOF
local key = "$key"
local pause = 0
function init(args) pause = tonumber(args[1] or "0") or 0 end
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)
local partner = {["Authorization"] = "Bearer " .. key}
local json = {["Content-Type"] = "application/json"}
request = function()
  local r = math.random(100)
  if r <= 30 then return wrk.format("GET", "/v1/markets/1/reserves") end
  if r <= 60 then return wrk.format("GET", "/v1/accounts/1/" .. accounts[math.random(#accounts)]) end
  if r <= 80 then
    local body = '{"chain":1,"account":"' .. accounts[math.random(#accounts)] .. '","actions":[' ..
      '{"type":"supply","asset":"WETH","amount":"1000000000000000000"},' ..
      '{"type":"borrow","asset":"USDC","amount":"100000000"},{"type":"repay","asset":"USDC","amount":"50000000"}]}'
    return wrk.format("POST", "/v1/quotes", json, body)
  end
  if r <= 90 then return wrk.format("GET", "/v1/partner/positions?limit=20", partner) end
  return wrk.format("GET", "/v1/partner/positions/" .. positions[math.random(#positions)] .. "/ltv", partner)
end
-- wrk waits whole milliseconds: a fractional pause is a random mix of its floor and ceiling
delay = function()
  local f = math.floor(pause)
  if math.random() < pause - f then return f + 1 end
  return f
end
EOF
} >"$tmp/mix.lua"
for p in /v1/markets/1/reserves "/v1/accounts/1/$(head -n 1 "$tmp/addresses.txt")"; do
  curl -fsS --max-time 5 -o /dev/null "$sparkd$p" || die "GET $p failed"
done

to_us() {
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1e6; else if (u == "m") m = 6e7;
    else { print "NaN"; exit } printf "%.0f", n * m }'
}

# run_wrk SECONDS PAUSE_MS: prints "REQ_PER_S P50_US P99_US ERRORS" (errors: non-2xx + socket errors).
run_wrk() {
  local out
  out=$(timeout $(($1 + 30)) wrk -t"$wrk_threads" -c"$wrk_conns" -d"$1"s --timeout 5s --latency -s "$tmp/mix.lua" \
    "$sparkd" -- "$2") || die "wrk failed"
  local rps p50 p99 non2xx sock
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")
  sock=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  [ -n "$rps" ] && [ -n "$p99" ] || { echo "$out" >&2; die "cannot read wrk output"; }
  echo "$rps $(to_us "$p50") $(to_us "$p99") $((${non2xx:-0} + ${sock:-0}))"
}

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$sparkd_pid/status"; }

read -r load _ </proc/loadavg
setup="one database"
[ "$replica" = 1 ] && setup="the state cache and account reads on a streaming replica"
echo "sparkd $sparkd ($("$sparkd_bin" version 2>/dev/null | head -1 || true)), $(nproc) CPUs, load average $load;" \
  "$accounts demo accounts, $npos partner positions, $setup"
echo "mix: 30% reserves, 30% accounts, 20% quotes, 20% partner reads; wrk -t$wrk_threads -c$wrk_conns"

# ---- 1. the maximum ----------------------------------------------------------------------------
read -r max_rps max_p50 max_p99 max_err <<<"$(run_wrk "$max_s" 0)"
echo "maximum: $max_rps req/s (p50 ${max_p50} us, p99 ${max_p99} us, $max_err errors) over ${max_s} s"
target=$(awk -v m="$max_rps" -v p="$load_pct" 'BEGIN { printf "%.0f", m * p / 100 }')

# ---- 2. the pace: per connection, period = conns / target; pause = period - latency --------------
# Closed loop per connection: rate = conns / (latency + pause). Start from the latency at the maximum,
# then correct twice from what a short run achieved.
pause=$(awk -v c="$wrk_conns" -v t="$target" -v m="$max_rps" 'BEGIN {
  per = c / t * 1000; lat = c / m * 1000; p = per - lat; if (p < 0) p = 0; printf "%.3f", p }')
for round in 1 2; do
  read -r got _ _ _ <<<"$(run_wrk 8 "$pause")"
  # halfway to the corrected pause: on a busy machine one short run's rate is noisy
  pause=$(awk -v c="$wrk_conns" -v t="$target" -v g="$got" -v p="$pause" 'BEGIN {
    lat = c / g * 1000 - p; if (lat < 0) lat = 0; q = c / t * 1000 - lat; if (q < 0) q = 0; printf "%.3f", (p + q) / 2 }')
  echo "pace round $round: $got req/s; pause now $pause ms per connection (target $target req/s)"
done

# ---- 3. the soak ---------------------------------------------------------------------------------
import_loop() {
  local i=2 t0 t1 start next now
  start=$(date +%s%N)
  while [ "$i" -le "$total_snaps" ]; do
    # on a fixed schedule (start + k x IMPORT_EVERY), however long an import takes
    next=$((start + (i - 1) * import_every * 1000000000))
    now=$(date +%s%N)
    [ "$now" -lt "$next" ] && sleep "$(awk -v d=$((next - now)) 'BEGIN { printf "%.3f", d / 1e9 }')"
    t0=$(date +%s%N)
    if sed -n "${i}p" "$tmp/demo.ndjson" | SPARKD_DATABASE_URL=$db_url timeout 60 "$sparkd_bin" import - \
      >>"$tmp/imports.log" 2>&1; then
      t1=$(date +%s%N)
      echo "ok $(((t1 - t0) / 1000000))" >>"$tmp/imports.txt"
    else
      echo "failed" >>"$tmp/imports.txt"
    fi
    i=$((i + 1))
  done
}
: >"$tmp/imports.txt"
import_loop &
importer_pid=$!

slices=$((soak_s / slice_s))
printf '%-6s %10s %6s %9s %9s %7s %8s %8s\n' minute "req/s" "%max" "p50 us" "p99 us" errors "RSS MB" imports
declare -a p99s=() rsss=()
errors_total=0
for s in $(seq 1 "$slices"); do
  read -r rps p50 p99 err <<<"$(run_wrk "$slice_s" "$pause")"
  kill -0 "$sparkd_pid" 2>/dev/null || die "sparkd exited during the soak: $(tail -5 "$tmp/sparkd.log")"
  rss=$(rss_mb)
  imp=$(grep -c '^ok' "$tmp/imports.txt" || true)
  p99s+=("$p99") rsss+=("$rss")
  errors_total=$((errors_total + err))
  pct=$(awk -v r="$rps" -v m="$max_rps" 'BEGIN { printf "%.0f", r / m * 100 }')
  printf '%-6s %10s %6s %9s %9s %7s %8s %8s\n' "$s" "$rps" "$pct" "$p50" "$p99" "$err" "$rss" "$imp"
done
kill "$importer_pid" 2>/dev/null || true
wait "$importer_pid" 2>/dev/null || true
importer_pid=

imp_ok=$(grep -c '^ok' "$tmp/imports.txt" || true)
imp_fail=$(grep -c '^failed' "$tmp/imports.txt" || true)
imp_ms=$(awk '/^ok/ {s += $2; n++} END { if (n) printf "%.0f", s / n; else print "-" }' "$tmp/imports.txt")
errors_total=$((errors_total + imp_fail))
first_p99=${p99s[0]} last_p99=${p99s[$((slices - 1))]}
first_rss=${rsss[0]} last_rss=${rsss[$((slices - 1))]}
p99_flat=$(awk -v a="$first_p99" -v b="$last_p99" 'BEGIN { print (b <= a * 1.5 + 1000) ? "yes" : "no" }')
rss_flat=$(awk -v a="$first_rss" -v b="$last_rss" 'BEGIN { print (b <= a * 1.10) ? "yes" : "no" }')
echo
echo "imports: $imp_ok applied (mean $imp_ms ms each), $imp_fail failed"
echo "errors: $errors_total (non-2xx answers, socket errors and failed imports)"
echo "p99 flat: $p99_flat (first minute $first_p99 us, last $last_p99 us)"
echo "RSS flat: $rss_flat (after the first minute $first_rss MB, at the end $last_rss MB)"
logged=$(grep -c '"level":"error"' "$tmp/sparkd.log" || true)
echo "sparkd log lines at level error: $logged"
[ "$logged" -eq 0 ] || grep '"level":"error"' "$tmp/sparkd.log" | head -5
echo "sparkd's own view (/metrics):"
curl -fsS --max-time 5 "$sparkd/metrics" | grep -E '^sparkd_(replica_|lease_held|state_cache_generation|db_errors)' \
  | sed 's/^/  /' || true
read -r load _ </proc/loadavg
echo "load average at the end $load"
[ "$errors_total" -eq 0 ] || exit 1

#!/usr/bin/env bash
# HTTP benchmark: sparkd against nginx serving the same bytes, and account lookups against a
# bare libmicrohttpd + libpq reference, on loopback only.
#
#   bench/http.sh                build sparkd and ref_server (Release) if needed, then benchmark every target
#   ONLY=accounts bench/http.sh  only the account lookups (against the reference) and quotes: 1-2 minutes
#
# It starts a private PostgreSQL (scripts/pg.sh) and `sparkd serve` on a free 127.0.0.1 port, and
# nginx on another, with a private config in a temp dir that serves, for each target, the exact
# body sparkd sends with the same Content-Type: the floor for "answer a GET with these bytes".
# Each target gets ROUNDS rounds of `wrk -t2 -c64 -d10s --latency`, alternating sparkd and nginx;
# it prints req/s, p50 and p99 per round and the medians, and the ratio sparkd/nginx.
#
# To benchmark another route, add a `bench_target NAME URL NGINX_BODY_FILE` line in main (see
# the healthz one: sparkd_body saves what sparkd answers, nginx then serves that file). The market
# targets need chain state: load_markets imports it first (DEMO_DAYS, default 7, of demo data).
#
# Account lookups (random demo addresses, a wrk Lua script) have no nginx twin; their reference is
# bench/ref_server.c: the same MHD options as sparkd and, per request, one PQexecPrepared
# of the SQL sparkd's accounts_get runs, on a per-thread connection to the same database, with a
# small JSON body and nothing else. The rounds alternate sparkd and ref_server with the same
# script; it prints the medians and the ratio sparkd/reference.
#
# Environment: ONLY (all | accounts), SPARKD_BENCH_BUILD_DIR (default build-bench), ROUNDS (3), DURATION (10s),
# THREADS (2), CONNECTIONS (64), SPARKD_LOG_LEVEL (warn: no per-request log lines, like nginx's
# access_log off), SPARKD_THREADS (ref_server gets the same count; default the CPUs),
# DEMO_ACCOUNTS (20000), SPARKD_ACCOUNT_CACHE_MAX (passed to sparkd: 0 = accounts from the
# database per request). Everything listens on 127.0.0.1, every wait is bounded, and the servers and
# the temp dir are removed on exit.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPARKD_BENCH_BUILD_DIR:-$root/build-bench}
rounds=${ROUNDS:-3}
duration=${DURATION:-10s}
wrk_threads=${THREADS:-2}
wrk_conns=${CONNECTIONS:-64}
only=${ONLY:-all}

die() { echo "bench/http.sh: $*" >&2; exit 1; }
case $only in all | accounts) ;; *) die "ONLY=$only: expected all or accounts" ;; esac

# ---- tools ---------------------------------------------------------------------------------
need_pkg() { # need_pkg COMMAND DEBIAN_PACKAGE: installs the package when the command is missing
  command -v "$1" >/dev/null 2>&1 && return 0
  [ "$(id -u)" = 0 ] || die "$1 is missing: apt-get install $2"
  echo "installing $2 ..." >&2
  apt-get install -y -q "$2" >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q "$2" >/dev/null; } \
    || die "could not install $2"
}
need_pkg wrk wrk
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need_pkg nginx nginx-light
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
command -v curl >/dev/null 2>&1 || need_pkg curl curl

# ---- build ---------------------------------------------------------------------------------
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null || die "cmake configure failed"
fi
cmake --build "$build" --target sparkd ref_server -j"$(nproc)" >"$build/bench-build.log" 2>&1 \
  || { tail -30 "$build/bench-build.log" >&2; die "build failed (log: $build/bench-build.log)"; }
sparkd_bin=$build/sparkd
[ -x "$sparkd_bin" ] || die "no binary at $sparkd_bin"
ref_bin=$build/bench/ref_server
[ -x "$ref_bin" ] || die "no binary at $ref_bin"

# ---- temp dir and cleanup ------------------------------------------------------------------
tmp=$(mktemp -d /tmp/sparkd-bench.XXXXXX)
chmod 0755 "$tmp" # the postgres and nginx worker users read below it
sparkd_pid= nginx_pid= ref_pid=
cleanup() {
  set +e
  if [ -n "$sparkd_pid" ]; then kill "$sparkd_pid" 2>/dev/null; wait "$sparkd_pid" 2>/dev/null; fi
  if [ -n "$ref_pid" ]; then kill "$ref_pid" 2>/dev/null; wait "$ref_pid" 2>/dev/null; fi
  if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null; fi
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints a TCP port nobody listens on at 127.0.0.1 (and none of the arguments).
free_port() {
  local p i
  for i in $(seq 1 50); do
    p=$(shuf -i 20000-60999 -n 1)
    [[ " $* " == *" $p "* ]] && continue
    if [ -z "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; then echo "$p"; return 0; fi
  done
  die "no free port found"
}

# wait_for URL SECONDS: waits until URL answers 2xx.
wait_for() {
  local url=$1 secs=$2 i
  for i in $(seq 1 $((secs * 10))); do
    curl -fs -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.1
  done
  return 1
}

# ---- PostgreSQL and sparkd -----------------------------------------------------------------
db_url=$(timeout 120 "$root/scripts/pg.sh" start "$tmp/pg") || die "PostgreSQL did not start"
sparkd_port=$(free_port)
SPARKD_LISTEN=127.0.0.1:$sparkd_port SPARKD_MIGRATE=auto SPARKD_DATABASE_URL=$db_url \
  SPARKD_LOG_LEVEL=${SPARKD_LOG_LEVEL:-warn} "$sparkd_bin" serve >"$tmp/sparkd.log" 2>&1 &
sparkd_pid=$!
sparkd=http://127.0.0.1:$sparkd_port
if ! wait_for "$sparkd/readyz" 30; then
  tail -20 "$tmp/sparkd.log" >&2
  die "sparkd did not become ready on $sparkd/readyz within 30 s"
fi

# ---- nginx: a private prefix; each target adds one exact-match location ------------------
nginx_port=$(free_port "$sparkd_port")
nginx=http://127.0.0.1:$nginx_port
ngx=$tmp/nginx
mkdir -p "$ngx/targets" "$ngx/www" "$ngx/temp"
cat >"$ngx/nginx.conf" <<EOF
daemon off;
worker_processes auto;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  open_file_cache max=64;
  client_body_temp_path $ngx/temp/body;
  proxy_temp_path $ngx/temp/proxy;
  fastcgi_temp_path $ngx/temp/fastcgi;
  uwsgi_temp_path $ngx/temp/uwsgi;
  scgi_temp_path $ngx/temp/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /__up { return 204; }
    include $ngx/targets/*.conf;
  }
}
EOF
ngx_ctl() { "$nginx_bin" -p "$ngx/" -c "$ngx/nginx.conf" -e "$ngx/error.log" "$@"; }
ngx_ctl -t -q || die "nginx config test failed: $(cat "$ngx/error.log")"
"$nginx_bin" -p "$ngx/" -c "$ngx/nginx.conf" -e "$ngx/error.log" & # not ngx_ctl: $! must be nginx
nginx_pid=$!
wait_for "$nginx/__up" 10 || die "nginx did not start: $(tail -5 "$ngx/error.log")"

# ---- measurement ---------------------------------------------------------------------------
# sparkd_body URL FILE: saves sparkd's body for URL (a path) in FILE.
sparkd_body() {
  curl -fsS --max-time 5 -o "$2" "$sparkd$1" || die "GET $sparkd$1 failed"
}

# to_us LATENCY: prints a wrk latency ("812.00us", "1.20ms", "2.00s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") m = 1; else if (u == "ms") m = 1000; else if (u == "s") m = 1e6;
    else if (u == "m") m = 6e7; else { print "NaN"; exit }
    printf "%.1f", n * m }'
}

# run_wrk URL: prints "REQ_PER_S P50_US P99_US"; fails if wrk saw errors or non-2xx answers.
run_wrk() {
  local out
  out=$(timeout 60 wrk -t"$wrk_threads" -c"$wrk_conns" -d"$duration" --latency "$1") \
    || die "wrk failed against $1"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "$out" >&2
    die "wrk saw errors or non-2xx answers from $1: the figures would not mean anything"
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  [ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] || { echo "$out" >&2; die "cannot read wrk output"; }
  echo "$rps $(to_us "$p50") $(to_us "$p99")"
}

# median A B C ...: prints the median of numbers.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {
  if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

row() { printf '%-10s %-7s %-7s %12s %10s %10s\n' "$@"; }

# bench_target NAME URL NGINX_BODY_FILE: benchmarks GET URL (a path such as /healthz, query allowed) on sparkd
# against nginx answering the same path with NGINX_BODY_FILE's bytes and the Content-Type
# sparkd sends for URL. Prints each round, the medians and the ratios.
bench_target() {
  local name=$1 url=$2 body=$3
  [ -f "$body" ] || die "$name: no body file $body"
  local ctype
  ctype=$(curl -fsS --max-time 5 -o /dev/null -w '%{content_type}' "$sparkd$url") \
    || die "$name: GET $sparkd$url failed"
  [ -n "$ctype" ] || die "$name: sparkd sent no Content-Type for $url"
  cp "$body" "$ngx/www/$name.body"
  chmod 0644 "$ngx/www/$name.body"
  cat >"$ngx/targets/$name.conf" <<EOF
location = ${url%%\?*} {
  types { }
  default_type "$ctype";
  etag off;
  alias $ngx/www/$name.body;
}
EOF
  ngx_ctl -s reload 2>>"$ngx/error.log" || die "nginx reload failed: $(tail -5 "$ngx/error.log")"
  local i
  for i in $(seq 1 50); do # the reload is asynchronous: wait until nginx serves this body
    if curl -fs --max-time 1 -o "$tmp/check.body" "$nginx$url" && cmp -s "$tmp/check.body" "$body"; then break; fi
    sleep 0.1
  done
  cmp -s "$tmp/check.body" "$body" || die "$name: nginx does not serve $body at $url"
  local ngx_ctype
  ngx_ctype=$(curl -fsS --max-time 5 -o /dev/null -w '%{content_type}' "$nginx$url")
  [ "$ngx_ctype" = "$ctype" ] || die "$name: nginx sends Content-Type '$ngx_ctype', sparkd '$ctype'"

  echo
  echo "== $name: GET $url ($(wc -c <"$body") bytes, $ctype); wrk -t$wrk_threads -c$wrk_conns -d$duration --latency"
  row target round server "req/s" "p50 us" "p99 us"
  local -a s_rps=() s_p50=() s_p99=() n_rps=() n_p50=() n_p99=()
  local r out rps p50 p99
  for r in $(seq 1 "$rounds"); do
    out=$(run_wrk "$sparkd$url") # an assignment, so a failing run_wrk stops the script
    read -r rps p50 p99 <<<"$out"
    s_rps+=("$rps") s_p50+=("$p50") s_p99+=("$p99")
    row "$name" "$r" sparkd "$rps" "$p50" "$p99"
    out=$(run_wrk "$nginx$url")
    read -r rps p50 p99 <<<"$out"
    n_rps+=("$rps") n_p50+=("$p50") n_p99+=("$p99")
    row "$name" "$r" nginx "$rps" "$p50" "$p99"
  done
  local ms_rps ms_p50 ms_p99 mn_rps mn_p50 mn_p99
  ms_rps=$(median "${s_rps[@]}") ms_p50=$(median "${s_p50[@]}") ms_p99=$(median "${s_p99[@]}")
  mn_rps=$(median "${n_rps[@]}") mn_p50=$(median "${n_p50[@]}") mn_p99=$(median "${n_p99[@]}")
  row "$name" median sparkd "$ms_rps" "$ms_p50" "$ms_p99"
  row "$name" median nginx "$mn_rps" "$mn_p50" "$mn_p99"
  row "$name" ratio "s/n" "$(ratio "$ms_rps" "$mn_rps")" "$(ratio "$ms_p50" "$mn_p50")" "$(ratio "$ms_p99" "$mn_p99")"
}

# Prints the 1-minute load average, and a warning when other work competes for the CPUs.
load_note() {
  local load
  read -r load _ </proc/loadavg
  echo "load average $load ($1)"
  if awk -v l="$load" -v n="$(nproc)" 'BEGIN { exit !(l > n / 2) }'; then
    echo "warning: the machine is busy; wrk, sparkd and nginx share $(nproc) CPUs with it: compare ratios, not absolute figures"
  fi
}

# load_markets: imports chain state for the market targets: `sparkd demo-data` (real SparkLend
# Ethereum configuration, DEMO_DAYS of history, 2000 accounts) when the binary has it, else the
# markets test fixture; then waits (bounded) until the state cache serves /v1/markets/1/reserves.
load_markets() {
  local src
  if "$sparkd_bin" demo-data --help >/dev/null 2>&1; then
    src="demo-data --days ${DEMO_DAYS:-7} --accounts 2000"
    "$sparkd_bin" demo-data --days "${DEMO_DAYS:-7}" --accounts 2000 >"$tmp/demo.ndjson" \
      || die "sparkd demo-data failed"
    SPARKD_DATABASE_URL=$db_url timeout 300 "$sparkd_bin" import "$tmp/demo.ndjson" >"$tmp/import.log" 2>&1 \
      || { tail -5 "$tmp/import.log" >&2; die "sparkd import of the demo data failed"; }
  else
    src="tests/fixtures/markets_block1.json"
    SPARKD_DATABASE_URL=$db_url timeout 60 "$sparkd_bin" import "$root/tests/fixtures/markets_block1.json" \
      >"$tmp/import.log" 2>&1 || { tail -5 "$tmp/import.log" >&2; die "sparkd import of the fixture failed"; }
  fi
  local i
  for i in $(seq 1 300); do
    if curl -fs --max-time 1 -o "$tmp/reserves.probe" "$sparkd/v1/markets/1/reserves" \
      && grep -q '"block_number"' "$tmp/reserves.probe"; then
      sleep 2 # let a rebuild for the last snapshot land before the body is saved
      curl -fs --max-time 1 -o "$tmp/reserves.probe" "$sparkd/v1/markets/1/reserves" || true
      echo
      echo "market data: $src ($(grep -o '"symbol"' "$tmp/reserves.probe" | wc -l) reserves)"
      return 0
    fi
    sleep 0.1
  done
  die "the state cache did not serve /v1/markets/1/reserves within 30 s"
}

# ---- accounts and quotes (sparkd only: random paths and POST bodies have no nginx twin) ------
# run_wrk_lua URL SCRIPT: as run_wrk, with a wrk Lua script choosing each request.
run_wrk_lua() {
  local out
  out=$(timeout 60 wrk -t"$wrk_threads" -c"$wrk_conns" -d"$duration" --latency -s "$2" "$1") \
    || die "wrk failed against $1 with $2"
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
    echo "$out" >&2
    die "wrk saw errors or non-2xx answers from $1 ($2): the figures would not mean anything"
  fi
  local rps p50 p99
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  [ -n "$rps" ] && [ -n "$p50" ] && [ -n "$p99" ] || { echo "$out" >&2; die "cannot read wrk output"; }
  echo "$rps $(to_us "$p50") $(to_us "$p99")"
}

# bench_lua NAME DESCRIPTION SCRIPT [REF_URL]: ROUNDS rounds of wrk with SCRIPT against sparkd;
# medians. With REF_URL, each round also runs SCRIPT against it (ref_server), and it prints the
# reference's medians and the ratios sparkd/reference.
bench_lua() {
  local name=$1 what=$2 script=$3 ref=${4:-}
  echo
  echo "== $name: $what; wrk -t$wrk_threads -c$wrk_conns -d$duration --latency -s $(basename "$script")"
  row target round server "req/s" "p50 us" "p99 us"
  local -a s_rps=() s_p50=() s_p99=() f_rps=() f_p50=() f_p99=()
  local r out rps p50 p99
  for r in $(seq 1 "$rounds"); do
    out=$(run_wrk_lua "$sparkd" "$script")
    read -r rps p50 p99 <<<"$out"
    s_rps+=("$rps") s_p50+=("$p50") s_p99+=("$p99")
    row "$name" "$r" sparkd "$rps" "$p50" "$p99"
    [ -n "$ref" ] || continue
    out=$(run_wrk_lua "$ref" "$script")
    read -r rps p50 p99 <<<"$out"
    f_rps+=("$rps") f_p50+=("$p50") f_p99+=("$p99")
    row "$name" "$r" ref "$rps" "$p50" "$p99"
  done
  local ms_rps ms_p50 ms_p99 mf_rps mf_p50 mf_p99
  ms_rps=$(median "${s_rps[@]}") ms_p50=$(median "${s_p50[@]}") ms_p99=$(median "${s_p99[@]}")
  row "$name" median sparkd "$ms_rps" "$ms_p50" "$ms_p99"
  [ -n "$ref" ] || return 0
  mf_rps=$(median "${f_rps[@]}") mf_p50=$(median "${f_p50[@]}") mf_p99=$(median "${f_p99[@]}")
  row "$name" median ref "$mf_rps" "$mf_p50" "$mf_p99"
  row "$name" ratio "s/ref" "$(ratio "$ms_rps" "$mf_rps")" "$(ratio "$ms_p50" "$mf_p50")" "$(ratio "$ms_p99" "$mf_p99")"
}

# start_ref PATH: starts ref_server on a free 127.0.0.1 port against the same database and waits
# (bounded) until it answers PATH (an account lookup) with at least one row.
start_ref() {
  local port
  port=$(free_port "$sparkd_port" "$nginx_port")
  "$ref_bin" "$port" "$db_url" "${SPARKD_THREADS:-$(nproc)}" >"$tmp/ref_server.log" 2>&1 &
  ref_pid=$!
  ref=http://127.0.0.1:$port
  local i
  for i in $(seq 1 100); do
    if curl -fs --max-time 1 -o "$tmp/ref.probe" "$ref$1"; then
      grep -q '"rows":[1-9]' "$tmp/ref.probe" || die "ref_server found no row for $1: $(cat "$tmp/ref.probe")"
      return 0
    fi
    kill -0 "$ref_pid" 2>/dev/null || break
    sleep 0.1
  done
  tail -5 "$tmp/ref_server.log" >&2
  die "ref_server did not answer $ref$1 within 10 s"
}

# bench_accounts: account lookups (GET /v1/accounts/1/{address}, a random demo account per
# request: the account from the state cache plus the engine, or with SPARKD_ACCOUNT_CACHE_MAX=0
# one prepared query plus the engine; against ref_server, that query alone) and quotes (POST /v1/quotes, 3 actions on a random
# demo account: supply WETH, borrow USDC, repay USDC). Imports demo data first when chain 1 has
# no accounts yet.
bench_accounts() {
  if ! curl -fs --max-time 2 "$sparkd/v1/accounts/1?limit=1" 2>/dev/null | grep -q '"address"'; then
    "$sparkd_bin" demo-data --days 0 --accounts "${DEMO_ACCOUNTS:-20000}" >"$tmp/demo_accounts.ndjson" \
      || die "sparkd demo-data failed"
    SPARKD_DATABASE_URL=$db_url timeout 300 "$sparkd_bin" import "$tmp/demo_accounts.ndjson" \
      >"$tmp/import_accounts.log" 2>&1 || { tail -5 "$tmp/import_accounts.log" >&2; die "import failed"; }
    local i
    for i in $(seq 1 300); do
      curl -fs --max-time 1 "$sparkd/v1/accounts/1?limit=1" 2>/dev/null | grep -q '"address"' && break
      sleep 0.1
    done
  fi
  local cursor= page n=0
  : >"$tmp/addresses.txt"
  while :; do # up to 5,000 addresses from the watch list
    page=$(curl -fsS --max-time 10 "$sparkd/v1/accounts/1?limit=500${cursor:+&cursor=$cursor}") \
      || die "GET /v1/accounts/1 failed"
    grep -o '"address":"0x[0-9a-fA-F]*"' <<<"$page" | cut -d'"' -f4 >>"$tmp/addresses.txt"
    cursor=$(grep -o '"next_cursor":"[0-9a-f]*"' <<<"$page" | cut -d'"' -f4 || true)
    n=$(wc -l <"$tmp/addresses.txt")
    [ -n "$cursor" ] && [ "$n" -lt 5000 ] || break
  done
  [ "$n" -gt 0 ] || die "no accounts listed on chain 1"
  {
    echo "local paths = {"
    sed 's|.*|  "/v1/accounts/1/&",|' "$tmp/addresses.txt"
    echo "}"
    echo 'local n = #paths'
    echo 'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)'
    echo 'request = function() return wrk.format("GET", paths[math.random(n)]) end'
  } >"$tmp/accounts.lua"
  {
    echo "local bodies = {"
    sed 's|.*|  [[{"chain":1,"account":"&","actions":[{"type":"supply","asset":"WETH","amount":"1000000000000000000"},{"type":"borrow","asset":"USDC","amount":"100000000"},{"type":"repay","asset":"USDC","amount":"50000000"}]}]],|' \
      "$tmp/addresses.txt"
    echo "}"
    echo 'local n = #bodies'
    echo 'local headers = {["Content-Type"] = "application/json"}'
    echo 'math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 100000)'
    echo 'request = function() return wrk.format("POST", "/v1/quotes", headers, bodies[math.random(n)]) end'
  } >"$tmp/quotes.lua"
  local first
  first=/v1/accounts/1/$(head -n 1 "$tmp/addresses.txt")
  curl -fsS --max-time 5 -o /dev/null "$sparkd$first" || die "an account lookup failed"
  start_ref "$first"
  echo
  echo "accounts: $n demo addresses from the watch list; reference: ref_server $ref ($(basename "$ref_bin"):" \
    "MHD + one prepared accounts_get query per request)"
  bench_lua accounts "GET /v1/accounts/1/{random demo address}" "$tmp/accounts.lua" "$ref"
  kill "$ref_pid" 2>/dev/null || true
  wait "$ref_pid" 2>/dev/null || true
  ref_pid=
  bench_lua quotes "POST /v1/quotes (3 actions: supply WETH, borrow USDC, repay USDC; random demo account)" \
    "$tmp/quotes.lua"
}

main() {
  echo "sparkd $sparkd ($("$sparkd_bin" version 2>/dev/null | head -1 || true)), nginx $nginx" \
    "($("$nginx_bin" -v 2>&1 | sed 's/.*: //')), $(nproc) CPUs, log level ${SPARKD_LOG_LEVEL:-warn}"
  load_note "before"
  if [ "$only" = all ]; then
    sparkd_body /healthz "$tmp/healthz.body"
    bench_target healthz /healthz "$tmp/healthz.body"
    load_markets
    sparkd_body /v1/markets/1/reserves "$tmp/reserves.body"
    bench_target reserves /v1/markets/1/reserves "$tmp/reserves.body"
    # computed per request from the cached vault state (no cache body, no database)
    sparkd_body '/v1/savings/vaults/1/spUSDC/preview?action=deposit&amount=1000000' "$tmp/preview.body"
    bench_target preview '/v1/savings/vaults/1/spUSDC/preview?action=deposit&amount=1000000' "$tmp/preview.body"
  fi
  bench_accounts
  echo
  load_note "after"
}

main

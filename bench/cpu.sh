#!/usr/bin/env bash
# CPU cost per request of the account and quote routes, as instructions counted by callgrind:
# deterministic, so it means something on a busy machine where wall-clock req/s does not.
#
#   bench/cpu.sh DB_URL [N]     DB_URL: a database with chain 1 imported (e.g. `sparkd demo-data
#                               --days 0 --accounts 5000 | sparkd import -`); N requests per route
#                               (default 1000)
#
# Starts `sparkd serve` (SPARKD_BENCH_BUILD_DIR, default build-bench) under valgrind
# --tool=callgrind on a free 127.0.0.1 port, warms each route up with 50 requests, zeroes the
# counters, sends N requests on one keep-alive connection (curl), dumps, and prints the
# instructions of the whole process divided by N: healthz (the floor), accounts (GET
# /v1/accounts/1/{one of the first N demo addresses}), acc_again (the same N lookups once more:
# addresses the worker has seen, as when clients poll their accounts), quotes (POST /v1/quotes,
# 3 actions: supply WETH, borrow USDC, repay USDC). Callgrind files stay in $OUT (default a temp
# dir) for callgrind_annotate.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${SPARKD_BENCH_BUILD_DIR:-$root/build-bench}
db_url=${1:?usage: bench/cpu.sh DB_URL [N]}
n=${2:-1000}
out=${OUT:-$(mktemp -d /tmp/sparkd-cpu.XXXXXX)}
mkdir -p "$out"
command -v valgrind >/dev/null || { echo "valgrind is missing" >&2; exit 1; }
port=$(shuf -i 20000-60999 -n 1)
base=http://127.0.0.1:$port

# One worker thread (callgrind runs one thread at a time anyway): every connection lands on it, so
# what a worker remembers per thread (engine view, address checksums) is found by the next run.
SPARKD_LISTEN=127.0.0.1:$port SPARKD_DATABASE_URL=$db_url SPARKD_LOG_LEVEL=warn SPARKD_THREADS=${SPARKD_THREADS:-1} \
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.%p" \
  "$build/sparkd" serve >"$out/sparkd.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 1 600); do
  curl -fs -o /dev/null --max-time 2 "$base/v1/accounts/1?limit=1" && break
  sleep 0.2
done
curl -fsS -o /dev/null "$base/v1/accounts/1?limit=1" || { tail "$out/sparkd.log" >&2; exit 1; }

psql "$db_url" -Atc "SELECT address FROM accounts WHERE chain_id = 1 ORDER BY address LIMIT $n" >"$out/addr.txt"
{
  while read -r a; do printf 'url = "%s/v1/accounts/1/%s"\noutput = /dev/null\n' "$base" "$a"; done
} <"$out/addr.txt" >"$out/accounts.curl"
{
  first=1
  while read -r a; do
    [ $first = 1 ] || echo next
    first=0
    printf 'url = "%s/v1/quotes"\noutput = /dev/null\nwrite-out = "%%{http_code}\\n"\nheader = "Content-Type: application/json"\n' "$base"
    printf 'data = "{\\"chain\\":1,\\"account\\":\\"%s\\",\\"actions\\":[{\\"type\\":\\"supply\\",\\"asset\\":\\"WETH\\",\\"amount\\":\\"1000000000000000000\\"},{\\"type\\":\\"borrow\\",\\"asset\\":\\"USDC\\",\\"amount\\":\\"100000000\\"},{\\"type\\":\\"repay\\",\\"asset\\":\\"USDC\\",\\"amount\\":\\"50000000\\"}]}"\n' "$a"
  done
} <"$out/addr.txt" >"$out/quotes.curl"
{
  for _ in $(seq 1 "$n"); do printf 'url = "%s/healthz"\noutput = /dev/null\n' "$base"; done
} >"$out/healthz.curl"
real_n=$(wc -l <"$out/addr.txt")

measure() { # measure NAME CURLCONFIG
  awk '/^url/ {c++} c <= 50 && !(c == 50 && /^next$/)' "$2" >"$out/warmup.curl"
  curl -sS -K "$out/warmup.curl" >/dev/null
  callgrind_control -z "$pid" >/dev/null 2>&1
  local codes
  codes=$(curl -sS -K "$2" -w '%{http_code}\n' | sort | uniq -c | tr -s ' ')
  callgrind_control -d "$1" "$pid" >/dev/null 2>&1
  sleep 0.5
  local f ir
  f=$(ls -t "$out"/callgrind.$pid.* | head -1)
  ir=$(awk '/^summary:/ {print $2}' "$f")
  printf '%-8s %6d requests  %12d Ir total  %9d Ir/request  (status:%s)\n' "$1" "$real_n" "$ir" $((ir / real_n)) "$codes"
}
measure healthz "$out/healthz.curl"
measure accounts "$out/accounts.curl"
measure acc_again "$out/accounts.curl"
measure quotes "$out/quotes.curl"
echo "callgrind files: $out"

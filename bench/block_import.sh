#!/usr/bin/env bash
# Per-block import cost at scale: the write path alone (no serving process), two binaries on two
# copies of one generated chain, block by block in turn so that both see the same load.
#
#   bench/block_import.sh                      SPARKD_BIN (default build-bench/sparkd, Release) only
#   SPARKD_BIN_BEFORE=/path/to/main/sparkd bench/block_import.sh
#
# Generates `sparkd demo-data --accounts ACCOUNTS --days 0` (default 1,000,000) once, starts a
# private PostgreSQL (scripts/pg.sh, fsync off like the tests), and per binary creates a database,
# migrates it and imports the snapshot (first import: wall time, peak RSS). Then BLOCKS blocks of
# each kind, each block applied by both binaries (before first), each printing the `sparkd import`
# process's wall time (what bench/scale.sh calls the block's import) and the import's own figures:
#   - kind "scale": bench/scale.sh's block, the 500 lowest health factors and every price moving;
#     the first replaces every listed account's positions by two (WETH supply, USDC debt), the next
#     ones change only the WETH supply;
#   - kind "edit": 500 other accounts (random, seeded) listed with their stored positions, one of
#     each account's positions changed, the others as they are (what a chain's block mostly is).
# Load averages are printed with the figures. The cluster and temp dir are removed on exit.
# Environment: ACCOUNTS, BLOCKS (4), SPARKD_BIN, SPARKD_BIN_BEFORE.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
accounts=${ACCOUNTS:-1000000}
blocks=${BLOCKS:-4}
die() { echo "bench/block_import.sh: $*" >&2; exit 1; }
[ -x /usr/bin/time ] || die "/usr/bin/time is missing: apt-get install time"

bin=${SPARKD_BIN:-}
if [ -z "$bin" ]; then
  build=$root/build-bench
  [ -f "$build/CMakeCache.txt" ] || cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target sparkd >/dev/null
  bin=$build/sparkd
fi
[ -x "$bin" ] || die "no sparkd binary at $bin"
before=${SPARKD_BIN_BEFORE:-}
[ -z "$before" ] || [ -x "$before" ] || die "no sparkd binary at $before"

tmp=$(mktemp -d /tmp/sparkd-bench-block.XXXXXX)
chmod 0755 "$tmp"
cleanup() {
  "$root/scripts/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
conn=$("$root/scripts/pg.sh" start "$tmp/pg")
load() { cut -d' ' -f1-3 /proc/loadavg; }
labels="${before:+before} after"
binof() { if [ "$1" = before ]; then echo "$before"; else echo "$bin"; fi; }
urlof() { echo "${conn/dbname=postgres/dbname=b_$1}"; }

echo "bench/block_import.sh: $(nproc) CPUs, load $(load), $accounts accounts, sparkd $bin${before:+, before: $before}"
"$bin" demo-data --accounts "$accounts" --days 0 >"$tmp/full.ndjson"
head -c 65536 "$tmp/full.ndjson" >"$tmp/head.json"
for l in $labels; do
  psql "$conn" -qc "CREATE DATABASE b_$l" >/dev/null
  SPARKD_DATABASE_URL=$(urlof "$l") SPARKD_MIGRATE=auto "$(binof "$l")" migrate >/dev/null 2>&1
  echo "$l load_before_first_import $(load)"
  SPARKD_DATABASE_URL=$(urlof "$l") /usr/bin/time -v "$(binof "$l")" import "$tmp/full.ndjson" \
    >"$tmp/import.out" 2>"$tmp/import.time" || die "first import: $(tail -3 "$tmp/import.time")"
  echo "$l first_import_s $(awk -F': ' '/Elapsed \(wall clock\)/ { print $2 }' "$tmp/import.time")"
  echo "$l first_import_peak_rss_mib $(awk -F': ' '/Maximum resident/ { printf "%.0f", $2 / 1024 }' "$tmp/import.time")"
done
rm -f "$tmp/full.ndjson"

# the two sets of 500 accounts, from the after database (both hold the same rows)
after_url=$(urlof after)
psql "$after_url" -Atc "SELECT address FROM accounts WHERE chain_id = 1 ORDER BY health_factor, address LIMIT 500" \
  >"$tmp/scale_addrs"
psql "$after_url" -Atc "SELECT p.account, p.asset, p.scaled_a_token_balance, p.scaled_variable_debt, p.collateral,
  a.emode_category FROM positions p JOIN accounts a ON a.chain_id = p.chain_id AND a.address = p.account
  WHERE p.chain_id = 1 AND p.account IN (SELECT address FROM accounts WHERE chain_id = 1
  ORDER BY md5(address) LIMIT 500) ORDER BY p.account, p.asset" >"$tmp/edit_rows"
python3 - "$tmp" "$blocks" <<'EOF'
import json, sys
d, nb = sys.argv[1], int(sys.argv[2])
head = open(f"{d}/head.json").read()
dec = json.JSONDecoder()
prices0, _ = dec.raw_decode(head, head.index('"prices":') + 9)
block, _ = dec.raw_decode(head, head.index('"block":') + 8)
weth = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
usdc = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
scale = [a.strip() for a in open(f"{d}/scale_addrs") if a.strip()]
edit = {}
for line in open(f"{d}/edit_rows"):
    acc, asset, sa, sd, coll, emode = line.rstrip("\n").split("|")
    e = edit.setdefault(acc, {"emode": int(emode), "pos": []})
    e["pos"].append({"asset": asset, "scaled_a_token_balance": sa, "scaled_variable_debt": sd, "collateral": coll == "t"})
k = 0
for kind in ("scale", "edit"):
    for j in range(1, nb + 1):
        k += 1
        prices = [dict(p, price=str(int(p["price"]) * (100 + k) // 100)) for p in prices0]
        if kind == "scale":
            accounts = [{"address": a, "emode_category": 0, "positions": [
                {"asset": weth, "scaled_a_token_balance": str(10**18 + j), "scaled_variable_debt": "0", "collateral": True},
                {"asset": usdc, "scaled_a_token_balance": "0", "scaled_variable_debt": str(1000000000 + i), "collateral": False}]}
                for i, a in enumerate(scale)]
        else:
            accounts = []
            for i, (a, e) in enumerate(sorted(edit.items())):
                pos = [dict(p) for p in e["pos"]]
                p = pos[(i + j) % len(pos)]
                p["scaled_a_token_balance"] = str(int(p["scaled_a_token_balance"]) + j)
                accounts.append({"address": a, "emode_category": e["emode"], "positions": pos})
        n = block["number"] + k
        snap = {"format": "sparkd.snapshot/1", "chain_id": 1,
                "block": {"number": n, "hash": "0x" + format(n, "064x"), "timestamp": block["timestamp"] + 12 * k},
                "prices": prices, "accounts_mode": "delta", "accounts": accounts}
        json.dump(snap, open(f"{d}/{kind}{j}.json", "w"))
EOF

now() { date +%s%N; }
for kind in scale edit; do
  for j in $(seq 1 "$blocks"); do
    for l in $labels; do
      ld=$(load)
      t0=$(now)
      SPARKD_DATABASE_URL=$(urlof "$l") "$(binof "$l")" import "$tmp/$kind$j.json" >"$tmp/block.out" 2>&1 ||
        die "block import: $(cat "$tmp/block.out")"
      t1=$(now)
      own=$(grep -o 'in [0-9.]* s (parse [0-9.]* s, write [0-9.]* s)' "$tmp/block.out" || echo "?")
      echo "$l ${kind}_block$j import_ms $(((t1 - t0) / 1000000)) ($own) load $ld"
    done
  done
done
echo "load_after $(load)"

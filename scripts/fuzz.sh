#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang, ASan + UBSan) into build-fuzz/ and runs each for
# SECONDS (default 25) on the kept corpus fuzz/corpus/<target>/. What a run finds beyond the kept
# corpus goes to build-fuzz/corpus/<target>/ (not the repository); a crash is saved as
# build-fuzz/artifacts/<target>-crash-* and the script exits 1. A crash becomes a test: copy the
# input to fuzz/crashes/<target>/ (tests/check_unit_fuzz.c replays it) and fix the code.
#   scripts/fuzz.sh [SECONDS [TARGET...]]       SPARKD_FUZZ_JOBS=N runs N targets at a time
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-25}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(head body snapshot u256 margin_params)
dir=${SPARKD_FUZZ_BUILD_DIR:-build-fuzz}
command -v clang >/dev/null || { echo "fuzz: clang is needed (apt-get install clang)" >&2; exit 1; }
CC=clang cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSPARKD_FUZZ=ON >/dev/null
cmake --build "$dir" -j"${SPARKD_BUILD_JOBS:-2}" --target fuzz >/dev/null
mkdir -p "$dir/artifacts"

dict_of() { case $1 in head) echo fuzz/dict/http.dict ;; body | snapshot | margin_params) echo fuzz/dict/json.dict ;; *) ;; esac; }
run_one() {
  local t=$1 d
  mkdir -p "$dir/corpus/$t"
  d=$(dict_of "$t")
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    ${d:+-dict=$d} -artifact_prefix="$dir/artifacts/$t-" "$dir/corpus/$t" "fuzz/corpus/$t" \
    >"$dir/fuzz_$t.log" 2>&1
}

jobs_max=${SPARKD_FUZZ_JOBS:-1}
declare -A pids=()
fail=0
for t in "${targets[@]}"; do
  run_one "$t" &
  pids[$t]=$!
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do sleep 1; done
done
for t in "${targets[@]}"; do
  if wait "${pids[$t]}"; then status=ok; else status=CRASH; fail=1; fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$dir/fuzz_$t.log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$dir/fuzz_$t.log" | tail -1 || true)
  echo "fuzz: $t: $status, $runs executions in ${secs}s, $cov, corpus $(ls "$dir/corpus/$t" | wc -l) new"
  if [ $status = CRASH ]; then
    grep -E 'ERROR|fuzz:|runtime error|SUMMARY|Test unit written' "$dir/fuzz_$t.log" | head -20 >&2
  fi
done
exit $fail

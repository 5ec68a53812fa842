#!/usr/bin/env bash
# Long fuzzing: every libFuzzer target of fuzz/ for HOURS (default 4) each, two at a time, with
# ASan + UBSan (scripts/fuzz.sh does the work; CI runs the same targets for seconds). Prints each
# target's executions, coverage and crashes; a crash's input is in build-fuzz/artifacts/.
#   bench/fuzz.sh [HOURS [TARGET...]]
set -euo pipefail
cd "$(dirname "$0")/.."
hours=${1:-4}
shift || true
SPARKD_FUZZ_JOBS=${SPARKD_FUZZ_JOBS:-2} exec scripts/fuzz.sh "$(awk -v h="$hours" 'BEGIN { printf "%d", h * 3600 }')" "$@"

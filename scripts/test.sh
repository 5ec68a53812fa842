#!/usr/bin/env bash
# README command 2: install what is missing, check the formatting, build, and run the whole test
# suite with ctest.
# Tests that need PostgreSQL start their own private clusters (scripts/pg.sh) and stop them.
# SPARKD_SANITIZE=1 builds and runs everything once more with -fsanitize=address,undefined.
# SPARKD_FUZZ_SECONDS=N then runs each libFuzzer target of fuzz/ for N seconds (scripts/fuzz.sh,
# clang, ASan + UBSan), two at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
SPARKD_DEPS_TEST=1 scripts/deps.sh
scripts/check-format.sh
SPARKD_BUILD_DIR=build scripts/build.sh
(cd build && ctest --output-on-failure -j2 --timeout 900)
if [ "${SPARKD_SANITIZE:-0}" = 1 ]; then
  SPARKD_BUILD_DIR=build-asan SPARKD_BUILD_TYPE=Debug scripts/build.sh -DSPARKD_SANITIZE=ON
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --output-on-failure -j2 --timeout 900)
fi
if [ -n "${SPARKD_FUZZ_SECONDS:-}" ]; then
  SPARKD_FUZZ_JOBS=${SPARKD_FUZZ_JOBS:-2} scripts/fuzz.sh "$SPARKD_FUZZ_SECONDS"
fi

#!/usr/bin/env bash
# Installs what building, serving and testing sparkd need, only when missing. Safe to run twice.
# Debian 12: apt packages (needs root, or sudo); Node packages from package-lock.json (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libmicrohttpd-dev libjansson-dev libpq-dev libssl-dev
      libsecp256k1-dev libcurl4-openssl-dev check postgresql-15 curl ca-certificates)
[ "${SPARKD_DEPS_BENCH:-0}" = 1 ] && pkgs+=(wrk nginx-light)
# the test suite: clang-format for check-format.sh, chromium for the browser tests (label browser)
[ "${SPARKD_DEPS_TEST:-0}" = 1 ] && pkgs+=(clang-format chromium)
# the libFuzzer targets (scripts/fuzz.sh): clang with its fuzzer and sanitizer runtimes
[ -n "${SPARKD_FUZZ_SECONDS:-}" ] && pkgs+=(clang)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node packages: tools for tests (reference implementations, OpenAPI lint, playwright-core), and
# uPlot and Redoc, which the build compiles into the binary (the /ops page, /docs). Reinstall when
# the lock changes.
stamp=node_modules/.sparkd-lock-sha
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "deps: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" > "$stamp"
fi

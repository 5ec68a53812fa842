#!/usr/bin/env bash
# README command 1: install what is missing, build, start a local PostgreSQL (data in .pgdata/,
# unix socket only), create the database, apply migrations, load the demo data set once (SparkLend
# Ethereum's real configuration, 20,000 synthetic accounts, 90 days of history), and serve on
# 127.0.0.1:8080. The first start on a fresh clone builds, then loads the demo data in well under a
# minute on 2 cores (about 8 s of CPU); later starts only build and serve. SPARKD_DEMO_DATA=0 skips
# the demo data.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
conn=$(SPARKD_PG_DURABLE=1 scripts/pg.sh start .pgdata)
psql "$conn" -qAtc "SELECT 1 FROM pg_database WHERE datname = 'sparkd'" | grep -q 1 \
  || psql "$conn" -qc "CREATE DATABASE sparkd" >/dev/null
export SPARKD_DATABASE_URL="${conn/dbname=postgres/dbname=sparkd}"
export SPARKD_MIGRATE=${SPARKD_MIGRATE:-auto}
export SPARKD_LOG_FORMAT=${SPARKD_LOG_FORMAT:-text}
build/sparkd migrate >/dev/null
if [ "${SPARKD_DEMO_DATA:-1}" = 1 ] && [ "$(psql "$SPARKD_DATABASE_URL" -qAtc 'SELECT count(*) FROM chains')" = 0 ]; then
  echo "sparkd: loading the demo data set (once) ..." >&2
  build/sparkd demo-data | build/sparkd import - >/dev/null
fi
echo "sparkd: PostgreSQL in .pgdata/ (stop it with: scripts/pg.sh stop .pgdata); serving on ${SPARKD_LISTEN:-127.0.0.1:8080}" >&2
exec build/sparkd serve

#!/usr/bin/env bash
# README command 1: install what is missing, build, start a local PostgreSQL (data in .pgdata/,
# unix socket only), create the database, apply migrations, and serve on 127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh
conn=$(scripts/pg.sh start .pgdata)
psql "$conn" -qAtc "SELECT 1 FROM pg_database WHERE datname = 'sparkd'" | grep -q 1 \
  || psql "$conn" -qc "CREATE DATABASE sparkd" >/dev/null
export SPARKD_DATABASE_URL="${conn/dbname=postgres/dbname=sparkd}"
export SPARKD_MIGRATE=${SPARKD_MIGRATE:-auto}
export SPARKD_LOG_FORMAT=${SPARKD_LOG_FORMAT:-text}
echo "sparkd: PostgreSQL in .pgdata/ (stop it with: scripts/pg.sh stop .pgdata); serving on ${SPARKD_LISTEN:-127.0.0.1:8080}" >&2
exec build/sparkd serve

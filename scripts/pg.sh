#!/usr/bin/env bash
# A private PostgreSQL 15 cluster in a folder, reachable only through a unix socket in that folder.
#   scripts/pg.sh start DIR     initdb if needed, start; prints the libpq conninfo
#   scripts/pg.sh stop DIR      fast shutdown (no error if not running)
#   scripts/pg.sh url DIR       prints the conninfo
#   scripts/pg.sh status DIR    exit 0 if running
#   scripts/pg.sh replica DIR PRIMARY_DIR
#                               a streaming replica of the running cluster in PRIMARY_DIR: pg_basebackup -R
#                               over the primary's socket (first time only), then start; prints its conninfo
# As root the server runs as the `postgres` user (initdb refuses root).
# Throw-away clusters (tests, benchmarks) run with fsync off; SPARKD_PG_DURABLE=1 keeps PostgreSQL's
# durable defaults (scripts/run.sh sets it for the .pgdata cluster).
set -euo pipefail
cmd=${1:?usage: pg.sh start|stop|url|status|replica DIR [PRIMARY_DIR]}
dir=${2:?usage: pg.sh start|stop|url|status|replica DIR [PRIMARY_DIR]}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
bin=${SPARKD_PG_BIN:-/usr/lib/postgresql/15/bin}
data="$dir/data"
sock="$dir"

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
conninfo() { echo "host=$sock dbname=postgres user=postgres"; }

case "$cmd" in
  replica)
    primary=${3:?usage: pg.sh replica DIR PRIMARY_DIR}
    primary=$(cd "$primary" && pwd)
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; chmod 0755 "$dir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      # -R writes standby.signal and primary_conninfo (the primary's socket folder); WAL streamed alongside
      as_owner "$bin/pg_basebackup" -h "$primary" -U postgres -D "$data" -R -X stream -c fast \
        >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
    fi
    exec "$0" start "$dir" ;;
  start)
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir"; chmod 0755 "$dir"; fi
    if [ ! -f "$data/PG_VERSION" ]; then
      as_owner "$bin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    fast="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    [ "${SPARKD_PG_DURABLE:-0}" = 1 ] && fast=""
    if ! as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$sock' -c max_connections=200 $fast" \
        start >/dev/null || { tail -20 "$dir/server.log" >&2; exit 1; }
    fi
    conninfo ;;
  stop)
    if [ -f "$data/PG_VERSION" ]; then
      as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
    fi ;;
  url) conninfo ;;
  status) as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 ;;
  *) echo "usage: pg.sh start|stop|url|status|replica DIR [PRIMARY_DIR]" >&2; exit 2 ;;
esac

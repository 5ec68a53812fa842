#!/bin/bash
# The streaming replica's start (runs as the postgres user): on the first start, copy the primary
# with pg_basebackup -R (which writes standby.signal and primary_conninfo) through a physical
# replication slot, so the primary keeps the WAL the replica has not received yet; then run
# PostgreSQL as a hot standby.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  rm -rf "${PGDATA:?}"/*
  until pg_isready -h "$PRIMARY_HOST" -U replicator -d postgres -q; do sleep 1; done
  pg_basebackup -h "$PRIMARY_HOST" -U replicator -D "$PGDATA" -R -X stream -C -S sparkd_replica -c fast
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on

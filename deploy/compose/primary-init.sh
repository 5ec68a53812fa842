#!/bin/bash
# Run once by the postgres image on the primary's first start (/docker-entrypoint-initdb.d): the
# role the streaming replica connects as, and the pg_hba.conf line that lets it. The password is
# for this local demo only.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<-SQL
  CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"

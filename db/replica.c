/* Replica position (db/replica.h). */
#include "db/replica.h"

#include <inttypes.h>
#include <stdio.h>

#include "db/internal.h"

const struct db_statement db_replica_statements[] = {
    {"replica_replayed", "SELECT pg_is_in_recovery() AS standby,"
                         " COALESCE(pg_last_wal_replay_lsn(), '0/0'::pg_lsn)::text AS replayed"},
};
DB_STATEMENTS_COUNT(replica);

uint64_t db_lsn_parse(const char *text) {
  if (!text) return 0;
  unsigned hi, lo;
  int used = 0;
  if (sscanf(text, "%8X/%8X%n", &hi, &lo, &used) != 2 || text[used] != 0) return 0;
  return (uint64_t)hi << 32 | lo;
}

db_status db_replica_replayed(db_conn *conn, bool *standby, uint64_t *replayed) {
  char lsn[40] = "";
  *standby = false;
  *replayed = 0;
  struct db_col cols[] = {{"standby", DB_COL_BOOL, standby, 0, NULL}, {"replayed", DB_COL_TEXT, lsn, sizeof lsn, NULL}};
  db_status s = db_query_one_prepared(conn, "replica_replayed", 0, NULL, cols, 2);
  if (s == DB_OK && *standby) *replayed = db_lsn_parse(lsn);
  return s;
}

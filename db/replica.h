/* Reading from a streaming replica: WAL positions and how far the replica has replayed. */
#ifndef SPARKD_DB_REPLICA_H
#define SPARKD_DB_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* Returns the WAL position written as PostgreSQL's pg_lsn text ("16/B374D848") as a number, or 0
 * when text is not one. */
uint64_t db_lsn_parse(const char *text);

/* Returns DB_OK with *standby set when the server of conn is a standby in recovery, and then
 * *replayed set to the WAL position it has replayed up to (0 when none yet); a primary gives
 * *standby false and *replayed 0. */
db_status db_replica_replayed(db_conn *conn, bool *standby, uint64_t *replayed);

#endif

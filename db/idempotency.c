/* Idempotency-Key rows: purged in batches, so a large backlog never holds one long transaction. */
#include <stdio.h>

#include "db/db.h"

static const char purge_sql[] =
    "DELETE FROM idempotency_keys WHERE ctid = ANY (ARRAY(SELECT ctid FROM idempotency_keys"
    " WHERE created_at < now() - $1::integer * interval '1 hour' LIMIT 10000))";

db_status db_idempotency_purge(db_pool *pool, unsigned keep_h, uint64_t *removed) {
  *removed = 0;
  char hours[16];
  snprintf(hours, sizeof hours, "%u", keep_h);
  const char *params[] = {hours};
  for (int batch = 0; batch < 100; batch++) { /* at most 1,000,000 rows per call */
    db_conn *conn = db_acquire(pool, 2000);
    if (!conn) return DB_UNAVAILABLE;
    uint64_t n = 0;
    db_status s = db_exec_params(conn, purge_sql, 1, params, &n);
    db_release(conn);
    if (s != DB_OK) return s;
    *removed += n;
    if (n < 10000) break;
  }
  return DB_OK;
}

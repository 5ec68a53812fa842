/* The purge of Idempotency-Key rows past their replay window. */
#include "db/db.h"
#include "db/partner.h"

db_status db_idempotency_purge(db_pool *pool, unsigned keep_h, uint64_t *removed) {
  *removed = 0;
  /* in batches, so a large backlog never holds one long transaction */
  for (int batch = 0; batch < 100; batch++) { /* at most 100 batches per call */
    db_conn *conn = db_acquire(pool, 2000);
    if (!conn) return DB_UNAVAILABLE;
    uint64_t n = 0;
    db_status s = db_idem_purge_batch(conn, keep_h, &n);
    db_release(conn);
    if (s != DB_OK) return s;
    *removed += n;
    if (n < DB_IDEM_PURGE_BATCH) break;
  }
  return DB_OK;
}

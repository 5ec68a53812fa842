/* Savings vault reads (db/savings.c). Each streams its rows to fn; columns are named as in the
 * statement, for db_row_get. */
#ifndef SPARKD_DB_SAVINGS_H
#define SPARKD_DB_SAVINGS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* Returns the status of reading every vault with its asset's symbol and decimals, by chain and address. */
db_status db_savings_vaults(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of reading the vault's last stored state at or before unix time `at`
 * (block_number, block_timestamp, chi, rho, rate); no row when there is none. */
db_status db_savings_chi_then(db_conn *conn, int64_t chain_id, const char *address, int64_t at, db_row_fn fn,
                              void *arg);

/* One page of a vault's history: buckets of `bucket` seconds counted from `from`, the first at
 * `start`, up to `to`, at most `limit` rows. */
struct db_savings_history_q {
  int64_t chain_id;
  const char *address; /* lowercase */
  int64_t from, bucket, start, to;
  size_t limit;
};
/* Returns the status of reading, per bucket, the last stored state inside it (b, block_number,
 * block_timestamp, chi, rho, rate, total_supply, idle_assets). */
db_status db_savings_history(db_conn *conn, const struct db_savings_history_q *q, db_row_fn fn, void *arg);

#endif

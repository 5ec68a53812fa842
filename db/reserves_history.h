/* The history of one reserve in time buckets (GET /v1/markets/{chain}/reserves/{asset}/history). */
#ifndef SPARKD_DB_RESERVES_HISTORY_H
#define SPARKD_DB_RESERVES_HISTORY_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* One bucket: the reserve's state at the last imported block in it (uint256 values as decimal
 * text), with the oracle price in force at that block. */
struct db_reserve_bucket {
  int64_t bucket; /* the bucket's start, unix seconds */
  int64_t block_number, block_timestamp, last_update_timestamp;
  char configuration[80], liquidity_index[80], variable_borrow_index[80], current_liquidity_rate[80],
      current_variable_borrow_rate[80], a_token_scaled_total_supply[80], variable_debt_scaled_total_supply[80],
      accrued_to_treasury[80], isolation_mode_total_debt[80], available_liquidity[80];
  char price[80];
  bool price_null; /* no price imported at or before the block */
};
/* Called once per bucket (borrowed, valid during the call). */
typedef db_status (*db_reserve_bucket_fn)(const struct db_reserve_bucket *b, void *arg);

/* Returns the status of calling fn for at most limit buckets of `interval` seconds of the reserve
 * asset on chain_id, with a block timestamp in [from, to], oldest first. */
db_status db_reserves_history(db_conn *conn, int64_t chain_id, const char *asset, int64_t interval, int64_t from,
                              int64_t to, int64_t limit, db_reserve_bucket_fn fn, void *arg);

#endif

/* Reads of SparkLend market state for the state cache (db/markets.c). Each streams its rows, in
 * the column order of its statement, to fn. */
#ifndef SPARKD_DB_MARKETS_H
#define SPARKD_DB_MARKETS_H

#include <stdint.h>

#include "db/db.h"

/* Returns the status of reading (chain_id, block_number, block_timestamp) of every chain, by id. */
db_status db_chains_as_of(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of reading (chain_id, block_number, block_hash, block_timestamp, imported_at as
 * RFC 3339) of every chain, by id. */
db_status db_markets_chains(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of reading every reserve of the chain (config, state, strategy, rate source,
 * price), by reserve id. */
db_status db_markets_reserves(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* Returns the status of reading (category_id, ltv, liquidation_threshold, liquidation_bonus,
 * price_source, label) of the chain's eMode categories, by id. */
db_status db_markets_emode(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);

#endif

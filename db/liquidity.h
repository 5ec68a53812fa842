/* Liquidity-layer reads (db/liquidity.c); each streams rows with named columns to fn. */
#ifndef SPARKD_DB_LIQUIDITY_H
#define SPARKD_DB_LIQUIDITY_H

#include "db/db.h"

/* Returns the status of reading every rate limit with its asset's symbol and decimals and its
 * target's venue, by chain, name and key. */
db_status db_liquidity_rate_limits(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of reading every allocation (chain_id, venue_id, kind, label, address, asset,
 * symbol, decimals, amount, apr). */
db_status db_liquidity_allocations(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of reading every idle balance (chain_id, asset, symbol, decimals, amount,
 * deployed). */
db_status db_liquidity_idle(db_conn *conn, db_row_fn fn, void *arg);

#endif

/* Ops risk reads and writes (db/risk.c): the loss waterfall configuration (migration 0020), the
 * price history VaR estimates from, the oracle sources and the kill switch's oracles. */
#ifndef SPARKD_DB_RISK_H
#define SPARKD_DB_RISK_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"

/* Returns the status of reading every waterfall row (layer_position, layer_name, residual,
 * holder_position, holder_name, capacity_base, updated_at as RFC 3339 UTC) in order. */
db_status db_risk_waterfall(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of deleting every waterfall row (inside the caller's transaction). */
db_status db_risk_waterfall_clear(db_conn *conn);
/* Returns the status of inserting one waterfall row (capacity a decimal integer string). */
db_status db_risk_waterfall_insert(db_conn *conn, int layer_position, const char *layer_name, bool residual,
                                   int holder_position, const char *holder_name, const char *capacity_base);
/* Returns the status of reading chain_id's price history from unix time `since` on (asset,
 * block_number, block_timestamp, price as text), by block then asset. */
db_status db_risk_price_series(db_conn *conn, int64_t chain_id, int64_t since, db_row_fn fn, void *arg);
/* Returns the status of reading chain_id's oracle prices (asset, price, source, updated_at). */
db_status db_risk_prices(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* Returns the status of reading chain_id's kill switch (address, triggered, block_number; no row
 * when none was imported). */
db_status db_risk_kill_switch(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* Returns the status of reading chain_id's kill-switch oracles (address, label, threshold,
 * latest_answer, decimals) by address. */
db_status db_risk_kill_switch_oracles(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);

#endif

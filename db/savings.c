/* Savings vaults: what the state cache reads (vaults, the accumulator some time ago for realized
 * APYs) and the bucketed history read per request. */
#include <inttypes.h>
#include <stdio.h>

#include "db/internal.h"
#include "db/savings.h"
#include "util/dec.h"

const struct db_statement db_savings_statements[] = {
    {"savings_vaults",
     "SELECT v.chain_id, v.address, v.kind, v.asset, v.symbol, v.decimals, v.chi::text AS chi, v.rho, "
     "v.rate::text AS rate, v.min_rate::text AS min_rate, v.max_rate::text AS max_rate, "
     "v.deposit_cap::text AS deposit_cap, v.total_supply::text AS total_supply, v.idle_assets::text AS idle_assets, "
     "v.intents_address, v.intents_min_assets::text AS intents_min_assets, "
     "v.intents_max_assets::text AS intents_max_assets, v.intents_max_deadline_seconds, "
     "a.symbol AS asset_symbol, a.decimals AS asset_decimals "
     "FROM savings_vaults v JOIN assets a ON a.chain_id = v.chain_id AND a.address = v.asset "
     "ORDER BY v.chain_id, v.address"},
    {"savings_chi_then",
     "SELECT block_number, block_timestamp, chi::text AS chi, rho, rate::text AS rate FROM vault_state_series "
     "WHERE chain_id = $1 AND address = $2 AND block_timestamp <= $3 ORDER BY block_timestamp DESC, block_number "
     "DESC LIMIT 1"},
    /* One row per bucket: the last imported block inside it. $4 = bucket seconds, $5 = first bucket start
     * (cursor), $6 = rows wanted. */
    {"savings_history",
     "SELECT DISTINCT ON (b) (block_timestamp - $3::bigint) / $4::bigint AS b, block_number, block_timestamp, "
     "chi::text AS chi, rho, rate::text AS rate, total_supply::text AS total_supply, "
     "idle_assets::text AS idle_assets FROM vault_state_series "
     "WHERE chain_id = $1 AND address = $2 AND block_timestamp >= $5::bigint AND block_timestamp <= $6::bigint "
     "ORDER BY b, block_timestamp DESC, block_number DESC LIMIT $7"},
};

DB_STATEMENTS_COUNT(savings);

db_status db_savings_vaults(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "savings_vaults", 0, NULL, fn, arg, NULL);
}

db_status db_savings_chi_then(db_conn *conn, int64_t chain_id, const char *address, int64_t at, db_row_fn fn,
                              void *arg) {
  char chain[24], target[24];
  util_i64_dec(chain_id, chain);
  util_i64_dec(at, target);
  const char *params[] = {chain, address, target};
  return db_query_prepared(conn, "savings_chi_then", 3, params, fn, arg, NULL);
}

db_status db_savings_history(db_conn *conn, const struct db_savings_history_q *q, db_row_fn fn, void *arg) {
  char p_chain[24], p_from[24], p_bucket[24], p_start[24], p_to[24], p_lim[24];
  util_i64_dec(q->chain_id, p_chain);
  util_i64_dec(q->from, p_from);
  util_i64_dec(q->bucket, p_bucket);
  util_i64_dec(q->start, p_start);
  util_i64_dec(q->to, p_to);
  snprintf(p_lim, sizeof p_lim, "%zu", q->limit);
  const char *params[] = {p_chain, q->address, p_from, p_bucket, p_start, p_to, p_lim};
  return db_query_prepared(conn, "savings_history", 7, params, fn, arg, NULL);
}

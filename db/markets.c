/* What the state cache reads of SparkLend markets: chains, reserves with their prices and rate
 * strategies, eMode categories. Rows stream to the caller's callback. */

#include "db/markets.h"
#include "db/internal.h"

const struct db_statement db_markets_statements[] = {
    {"chains_as_of", "SELECT chain_id, block_number, block_timestamp FROM chains ORDER BY chain_id"},
    {"markets_chains",
     "SELECT chain_id, block_number, block_hash, block_timestamp,"
     " to_char(imported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM chains ORDER BY chain_id"},
    {"markets_reserves",
     "SELECT r.asset, a.symbol, coalesce(a.name, a.symbol), r.decimals, r.reserve_id, r.configuration::text,"
     " r.liquidity_index::text, r.variable_borrow_index::text, r.current_liquidity_rate::text,"
     " r.current_variable_borrow_rate::text, r.last_update_timestamp, r.a_token, r.variable_debt_token,"
     " r.a_token_scaled_total_supply::text, r.variable_debt_scaled_total_supply::text,"
     " r.accrued_to_treasury::text, r.isolation_mode_total_debt::text, r.available_liquidity::text,"
     " r.irm_address, r.irm_kind, r.irm_optimal_usage_ratio::text, r.irm_base_variable_borrow_rate::text,"
     " r.irm_variable_rate_slope1::text, r.irm_variable_rate_slope2::text, r.irm_spread::text,"
     " r.irm_rate_source->>'kind', r.irm_rate_source->>'address', r.irm_rate_source->>'apr',"
     " r.irm_rate_source->>'decimals', r.irm_rate_source::text, p.price::text, p.updated_at"
     " FROM reserves r JOIN assets a ON a.chain_id = r.chain_id AND a.address = r.asset"
     " LEFT JOIN prices p ON p.chain_id = r.chain_id AND p.asset = r.asset"
     " WHERE r.chain_id = $1 ORDER BY r.reserve_id"},
    {"markets_emode", "SELECT category_id, ltv, liquidation_threshold, liquidation_bonus, price_source, label"
                      " FROM emode_categories WHERE chain_id = $1 ORDER BY category_id"},
};
DB_STATEMENTS_COUNT(markets);

db_status db_chains_as_of(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "chains_as_of", 0, NULL, fn, arg, NULL);
}

db_status db_markets_chains(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "markets_chains", 0, NULL, fn, arg, NULL);
}

db_status db_markets_reserves(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return db_query_by_id(conn, "markets_reserves", chain_id, fn, arg);
}

db_status db_markets_emode(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return db_query_by_id(conn, "markets_emode", chain_id, fn, arg);
}

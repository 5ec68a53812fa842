/* What the state cache reads of the Spark Liquidity Layer: rate limits with their asset and
 * venue, allocations per venue, idle balances with what is deployed. */
#include "db/liquidity.h"
#include "db/internal.h"

const struct db_statement db_liquidity_statements[] = {
    {"ll_rate_limits",
     "SELECT r.chain_id, r.key, r.name, r.asset, r.target, r.max_amount::text AS max_amount, r.slope::text AS slope, "
     "r.last_amount::text AS last_amount, r.last_updated, a.symbol AS asset_symbol, a.decimals::bigint AS "
     "asset_decimals, v.venue_id, v.label AS venue_label, v.kind AS venue_kind "
     "FROM ll_rate_limits r LEFT JOIN assets a ON a.chain_id = r.chain_id AND a.address = r.asset "
     "LEFT JOIN LATERAL (SELECT venue_id, label, kind FROM ll_venues x WHERE x.chain_id = r.chain_id AND "
     "x.address = r.target ORDER BY venue_id LIMIT 1) v ON true ORDER BY r.chain_id, r.name, r.key"},
    {"ll_allocations",
     "SELECT l.chain_id, l.venue_id, v.kind, v.label, v.address, l.asset, a.symbol, a.decimals::bigint AS decimals, "
     "l.amount::text AS amount, l.apr::text AS apr FROM ll_allocations l "
     "JOIN ll_venues v ON v.chain_id = l.chain_id AND v.venue_id = l.venue_id "
     "JOIN assets a ON a.chain_id = l.chain_id AND a.address = l.asset ORDER BY l.chain_id, l.venue_id, l.asset"},
    {"ll_idle",
     "SELECT i.chain_id, i.asset, a.symbol, a.decimals::bigint AS decimals, i.amount::text AS amount, "
     "COALESCE((SELECT sum(amount) FROM ll_allocations l WHERE l.chain_id = i.chain_id AND l.asset = i.asset), 0)"
     "::text AS deployed FROM ll_idle i JOIN assets a ON a.chain_id = i.chain_id AND a.address = i.asset "
     "ORDER BY i.chain_id, i.asset"},
};

DB_STATEMENTS_COUNT(liquidity);

db_status db_liquidity_rate_limits(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "ll_rate_limits", 0, NULL, fn, arg, NULL);
}

db_status db_liquidity_allocations(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "ll_allocations", 0, NULL, fn, arg, NULL);
}

db_status db_liquidity_idle(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "ll_idle", 0, NULL, fn, arg, NULL);
}

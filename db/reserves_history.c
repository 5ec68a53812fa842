/* Reserve history buckets (db/reserves_history.h). Buckets are cut in SQL: for each interval the
 * last imported block of the reserve in it (DISTINCT ON), with the oracle price in force then. */
#include "db/reserves_history.h"

#include <stdio.h>
#include <string.h>

#include "db/internal.h"
#include "util/dec.h"

const struct db_statement db_reserves_history_statements[] = {
    {"reserves_history",
     "WITH b AS ("
     " SELECT DISTINCT ON (bucket) (s.block_timestamp / $3::bigint) * $3::bigint AS bucket, s.*"
     " FROM reserve_state_series s"
     " WHERE s.chain_id = $1::bigint AND s.asset = $2 AND s.block_timestamp >= $4::bigint"
     " AND s.block_timestamp <= $5::bigint"
     " ORDER BY bucket, s.block_number DESC)"
     " SELECT b.bucket, b.block_number, b.block_timestamp, b.configuration::text AS configuration,"
     " b.liquidity_index::text AS liquidity_index, b.variable_borrow_index::text AS variable_borrow_index,"
     " b.current_liquidity_rate::text AS current_liquidity_rate,"
     " b.current_variable_borrow_rate::text AS current_variable_borrow_rate, b.last_update_timestamp,"
     " b.a_token_scaled_total_supply::text AS a_token_scaled_total_supply,"
     " b.variable_debt_scaled_total_supply::text AS variable_debt_scaled_total_supply,"
     " b.accrued_to_treasury::text AS accrued_to_treasury,"
     " b.isolation_mode_total_debt::text AS isolation_mode_total_debt,"
     " b.available_liquidity::text AS available_liquidity,"
     " (SELECT p.price::text FROM price_series p WHERE p.chain_id = b.chain_id AND p.asset = b.asset"
     "  AND p.block_number <= b.block_number ORDER BY p.block_number DESC LIMIT 1) AS price"
     " FROM b ORDER BY b.bucket LIMIT $6::bigint"},
};
DB_STATEMENTS_COUNT(reserves_history);

struct ctx {
  db_reserve_bucket_fn fn;
  void *arg;
};

static db_status bucket_row(const db_row *row, void *arg) {
  const struct ctx *x = arg;
  struct db_reserve_bucket b;
  memset(&b, 0, sizeof b);
#define T(name)                                                                                                        \
  { #name, DB_COL_TEXT, b.name, sizeof b.name, NULL }
  const struct db_col cols[] = {
      {"bucket", DB_COL_INT64, &b.bucket, 0, NULL},
      {"block_number", DB_COL_INT64, &b.block_number, 0, NULL},
      {"block_timestamp", DB_COL_INT64, &b.block_timestamp, 0, NULL},
      {"last_update_timestamp", DB_COL_INT64, &b.last_update_timestamp, 0, NULL},
      T(configuration),
      T(liquidity_index),
      T(variable_borrow_index),
      T(current_liquidity_rate),
      T(current_variable_borrow_rate),
      T(a_token_scaled_total_supply),
      T(variable_debt_scaled_total_supply),
      T(accrued_to_treasury),
      T(isolation_mode_total_debt),
      T(available_liquidity),
      {"price", DB_COL_TEXT, b.price, sizeof b.price, &b.price_null},
  };
#undef T
  db_status st = db_row_get(row, cols, sizeof cols / sizeof cols[0]);
  return st == DB_OK ? x->fn(&b, x->arg) : st;
}

db_status db_reserves_history(db_conn *conn, int64_t chain_id, const char *asset, int64_t interval, int64_t from,
                              int64_t to, int64_t limit, db_reserve_bucket_fn fn, void *arg) {
  char p_chain[24], p_iv[24], p_from[24], p_to[24], p_lim[24];
  util_i64_dec(chain_id, p_chain);
  util_i64_dec(interval, p_iv);
  util_i64_dec(from, p_from);
  util_i64_dec(to, p_to);
  util_i64_dec(limit, p_lim);
  const char *params[] = {p_chain, asset, p_iv, p_from, p_to, p_lim};
  struct ctx x = {fn, arg};
  return db_query_prepared(conn, "reserves_history", 6, params, bucket_row, &x, NULL);
}

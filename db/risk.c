/* Ops risk reads and writes (db/risk.h). */
#include "db/risk.h"

#include <stdio.h>

#include "db/internal.h"

const struct db_statement db_risk_statements[] = {
    {"risk_waterfall",
     "SELECT layer_position, layer_name, residual, holder_position, holder_name, capacity_base::text AS "
     "capacity_base, to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS updated_at "
     "FROM risk_waterfall ORDER BY layer_position, holder_position"},
    {"risk_waterfall_clear", "DELETE FROM risk_waterfall"},
    {"risk_waterfall_insert",
     "INSERT INTO risk_waterfall (layer_position, layer_name, residual, holder_position, holder_name, capacity_base) "
     "VALUES ($1::int, $2, $3::boolean, $4::int, $5, $6::numeric)"},
    {"risk_price_series", "SELECT asset, block_number, block_timestamp, price::text AS price FROM price_series "
                          "WHERE chain_id = $1::bigint AND block_timestamp >= $2::bigint ORDER BY block_number, asset"},
    {"risk_prices",
     "SELECT asset, price::text AS price, source, updated_at FROM prices WHERE chain_id = $1::bigint ORDER BY asset"},
    {"risk_kill_switch", "SELECT address, triggered, block_number FROM kill_switch WHERE chain_id = $1::bigint"},
    {"risk_kill_switch_oracles",
     "SELECT address, label, threshold::text AS threshold, latest_answer::text AS latest_answer, decimals "
     "FROM kill_switch_oracles WHERE chain_id = $1::bigint ORDER BY address"},
};

DB_STATEMENTS_COUNT(risk);

db_status db_risk_waterfall(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "risk_waterfall", 0, NULL, fn, arg, NULL);
}

db_status db_risk_waterfall_clear(db_conn *conn) {
  return db_exec_prepared(conn, "risk_waterfall_clear", 0, NULL, NULL);
}

db_status db_risk_waterfall_insert(db_conn *conn, int layer_position, const char *layer_name, bool residual,
                                   int holder_position, const char *holder_name, const char *capacity_base) {
  char lp[16], hp[16];
  snprintf(lp, sizeof lp, "%d", layer_position);
  snprintf(hp, sizeof hp, "%d", holder_position);
  const char *p[] = {lp, layer_name, residual ? "true" : "false", hp, holder_name, capacity_base};
  return db_exec_prepared(conn, "risk_waterfall_insert", 6, p, NULL);
}

static db_status by_chain(db_conn *conn, const char *name, int64_t chain_id, db_row_fn fn, void *arg) {
  char c[24];
  snprintf(c, sizeof c, "%lld", (long long)chain_id);
  const char *p[] = {c};
  return db_query_prepared(conn, name, 1, p, fn, arg, NULL);
}

db_status db_risk_price_series(db_conn *conn, int64_t chain_id, int64_t since, db_row_fn fn, void *arg) {
  char c[24], s[24];
  snprintf(c, sizeof c, "%lld", (long long)chain_id);
  snprintf(s, sizeof s, "%lld", (long long)since);
  const char *p[] = {c, s};
  return db_query_prepared(conn, "risk_price_series", 2, p, fn, arg, NULL);
}

db_status db_risk_prices(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return by_chain(conn, "risk_prices", chain_id, fn, arg);
}

db_status db_risk_kill_switch(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return by_chain(conn, "risk_kill_switch", chain_id, fn, arg);
}

db_status db_risk_kill_switch_oracles(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return by_chain(conn, "risk_kill_switch_oracles", chain_id, fn, arg);
}

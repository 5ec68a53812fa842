/* SparkLend accounts: what the state cache holds of a chain (eMode, kill switch, accounts and
 * held positions), one account read per request for a chain it does not hold, and the
 * liquidation watch list. */
#include <stdio.h>
#include <stdlib.h>

#include "db/accounts.h"
#include "db/internal.h"
#include "util/dec.h"

const struct db_statement db_accounts_statements[] = {
    {"accounts_emode",
     "SELECT chain_id, category_id, ltv, liquidation_threshold, liquidation_bonus, label FROM emode_categories"
     " ORDER BY chain_id, category_id"},
    {"accounts_chains",
     "SELECT c.chain_id, k.triggered FROM chains c LEFT JOIN kill_switch k ON k.chain_id = c.chain_id"
     " ORDER BY c.chain_id"},
    {"accounts_count", "SELECT count(*) FROM (SELECT 1 FROM accounts WHERE chain_id = $1::bigint LIMIT $2::bigint) s"},
    /* The state cache's copy of a chain's accounts (state_accounts_load). */
    {"accounts_store_reserves", "SELECT asset, reserve_id FROM reserves WHERE chain_id = $1::bigint"},
    {"accounts_store_accounts",
     "SELECT address, emode_category, block_number FROM accounts WHERE chain_id = $1::bigint"},
    {"accounts_store_positions",
     "SELECT account, asset, scaled_a_token_balance::text, scaled_variable_debt::text, collateral FROM positions"
     " WHERE chain_id = $1::bigint AND (scaled_a_token_balance > 0 OR scaled_variable_debt > 0)"},
    /* The incremental rebuild (migration 0015): the chain's change record, and what the imports
     * after a generation's record wrote (its seq: $2). */
    {"accounts_change_head", "SELECT seq, full_seq, kept_from, block_number, block_timestamp FROM account_change_heads"
                             " WHERE chain_id = $1::bigint"},
    {"accounts_changed_addresses",
     "SELECT DISTINCT address FROM account_changes WHERE chain_id = $1::bigint AND seq > $2::bigint"},
    {"accounts_changed_accounts",
     "SELECT address, emode_category, block_number FROM accounts WHERE chain_id = $1::bigint AND address IN"
     " (SELECT address FROM account_changes WHERE chain_id = $1::bigint AND seq > $2::bigint)"},
    {"accounts_changed_positions",
     "SELECT account, asset, scaled_a_token_balance::text, scaled_variable_debt::text, collateral FROM positions"
     " WHERE chain_id = $1::bigint AND (scaled_a_token_balance > 0 OR scaled_variable_debt > 0) AND account IN"
     " (SELECT address FROM account_changes WHERE chain_id = $1::bigint AND seq > $2::bigint)"},
    /* Driven by the chain's row: its block tells whether the database is at the cached market's
     * block (an import rewrites positions without always touching the account row). Only held
     * positions, as the state cache's copy. */
    {"accounts_get", "SELECT c.block_number, a.emode_category, p.asset, p.scaled_a_token_balance::text,"
                     " p.scaled_variable_debt::text, p.collateral, c.block_timestamp FROM chains c"
                     " LEFT JOIN accounts a ON a.chain_id = c.chain_id AND a.address = $2::text"
                     " LEFT JOIN positions p ON p.chain_id = a.chain_id AND p.account = a.address"
                     " AND (p.scaled_a_token_balance > 0 OR p.scaled_variable_debt > 0)"
                     " WHERE c.chain_id = $1::bigint"},
    /* Keyset on (health_factor, address); accounts whose health factor could not be computed at
     * import (NULL) are not listed. */
    {"accounts_list",
     "SELECT a.address, a.emode_category, a.block_number, a.health_factor::text, a.total_collateral_base::text,"
     " a.total_debt_base::text FROM accounts a"
     " WHERE a.chain_id = $1::bigint AND a.health_factor IS NOT NULL"
     " AND ($2::numeric IS NULL OR a.health_factor <= $2::numeric)"
     " AND ($3::numeric IS NULL OR a.total_debt_base >= $3::numeric)"
     " AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM positions p WHERE p.chain_id = a.chain_id"
     "   AND p.account = a.address AND p.asset = $4::text AND p.collateral AND p.scaled_a_token_balance > 0))"
     " AND ($5::text IS NULL OR EXISTS (SELECT 1 FROM positions p WHERE p.chain_id = a.chain_id"
     "   AND p.account = a.address AND p.asset = $5::text AND p.scaled_variable_debt > 0))"
     " AND ($6::numeric IS NULL OR (a.health_factor, a.address::text) > ($6::numeric, $7::text))"
     " ORDER BY a.health_factor, a.address::text LIMIT $8::int"},
};

DB_STATEMENTS_COUNT(accounts);

db_status db_accounts_chains(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "accounts_chains", 0, NULL, fn, arg, NULL);
}

db_status db_accounts_emode(db_conn *conn, db_row_fn fn, void *arg) {
  return db_query_prepared(conn, "accounts_emode", 0, NULL, fn, arg, NULL);
}

static db_status count_row(const db_row *row, void *arg) {
  *(size_t *)arg = (size_t)strtoull(db_row_text(row, 0), NULL, 10);
  return DB_OK;
}

db_status db_accounts_count(db_conn *conn, int64_t chain_id, size_t limit, size_t *n) {
  char chain[24], lim[24];
  util_i64_dec(chain_id, chain);
  snprintf(lim, sizeof lim, "%zu", limit);
  const char *params[] = {chain, lim};
  *n = 0;
  return db_query_prepared(conn, "accounts_count", 2, params, count_row, n, NULL);
}

db_status db_accounts_store_reserves(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return db_query_by_id(conn, "accounts_store_reserves", chain_id, fn, arg);
}

db_status db_accounts_store_accounts(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return db_query_by_id(conn, "accounts_store_accounts", chain_id, fn, arg);
}

db_status db_accounts_store_positions(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return db_query_by_id(conn, "accounts_store_positions", chain_id, fn, arg);
}

db_status db_accounts_change_head(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg) {
  return db_query_by_id(conn, "accounts_change_head", chain_id, fn, arg);
}

db_status db_accounts_changed(db_conn *conn, enum db_accounts_changed what, int64_t chain_id, int64_t after_seq,
                              db_row_fn fn, void *arg) {
  static const char *const names[] = {"accounts_changed_addresses", "accounts_changed_accounts",
                                      "accounts_changed_positions"};
  char chain[24], seq[24];
  util_i64_dec(chain_id, chain);
  util_i64_dec(after_seq, seq);
  const char *params[] = {chain, seq};
  return db_query_prepared(conn, names[what], 2, params, fn, arg, NULL);
}

db_status db_accounts_get(db_conn *conn, const char *chain, const char *address, db_row_fn fn, void *arg) {
  const char *params[] = {chain, address};
  return db_query_prepared(conn, "accounts_get", 2, params, fn, arg, NULL);
}

db_status db_accounts_list(db_conn *conn, const struct db_accounts_list_q *q, db_row_fn fn, void *arg) {
  char chain[24], lim[24];
  util_i64_dec(q->chain_id, chain);
  snprintf(lim, sizeof lim, "%ld", q->limit);
  const char *params[8] = {chain,   q->max_hf,   q->min_debt_base, q->collateral,
                           q->debt, q->after_hf, q->after_address, lim};
  return db_query_prepared(conn, "accounts_list", 8, params, fn, arg, NULL);
}

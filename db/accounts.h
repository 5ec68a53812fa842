/* SparkLend account reads (db/accounts.c); each streams rows to fn in its statement's column order. */
#ifndef SPARKD_DB_ACCOUNTS_H
#define SPARKD_DB_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "db/db.h"

/* Returns the status of reading (chain_id, kill switch triggered or NULL) of every chain, by id. */
db_status db_accounts_chains(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of reading (chain_id, category_id, ltv, liquidation_threshold,
 * liquidation_bonus, label) of every eMode category. */
db_status db_accounts_emode(db_conn *conn, db_row_fn fn, void *arg);
/* Returns the status of counting the chain's accounts, stopping at limit (*n gets the count). */
db_status db_accounts_count(db_conn *conn, int64_t chain_id, size_t limit, size_t *n);
/* Returns the status of reading (asset, reserve_id) of the chain's reserves. */
db_status db_accounts_store_reserves(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* Returns the status of reading (address, emode_category, block_number) of the chain's accounts. */
db_status db_accounts_store_accounts(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* Returns the status of reading (account, asset, scaled aToken balance, scaled variable debt,
 * collateral) of the chain's held positions. */
db_status db_accounts_store_positions(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* Returns the status of reading the chain's change record (seq, full_seq, kept_from, block_number,
 * block_timestamp): no row when no import recorded one (migration 0015). */
db_status db_accounts_change_head(db_conn *conn, int64_t chain_id, db_row_fn fn, void *arg);
/* What the imports with a seq above after_seq wrote: the distinct addresses they wrote or removed
 * (address), those of them that exist (as db_accounts_store_accounts), their held positions (as
 * db_accounts_store_positions). */
enum db_accounts_changed { DB_ACCOUNTS_CHANGED_ADDRESSES, DB_ACCOUNTS_CHANGED_ACCOUNTS, DB_ACCOUNTS_CHANGED_POSITIONS };
/* Returns the status of reading `what` of the chain's changes after after_seq. */
db_status db_accounts_changed(db_conn *conn, enum db_accounts_changed what, int64_t chain_id, int64_t after_seq,
                              db_row_fn fn, void *arg);
/* Returns the status of reading account `address` (lowercase) of chain `chain` (decimal text):
 * one row per held position, or one row with NULL account columns, each with the chain's block
 * (block_number, emode_category, asset, scaled aToken, scaled debt, collateral, block_timestamp). */
db_status db_accounts_get(db_conn *conn, const char *chain, const char *address, db_row_fn fn, void *arg);

/* The watch list's filters and keyset (NULL: no filter); decimal texts of stored values. */
struct db_accounts_list_q {
  int64_t chain_id;
  const char *max_hf, *min_debt_base, *collateral, *debt;
  const char *after_hf, *after_address;
  long limit;
};
/* Returns the status of reading accounts by (health factor, address) after the keyset (address,
 * emode_category, block_number, health_factor, total_collateral_base, total_debt_base). */
db_status db_accounts_list(db_conn *conn, const struct db_accounts_list_q *q, db_row_fn fn, void *arg);

#endif

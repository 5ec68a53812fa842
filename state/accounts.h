/* SparkLend accounts in the state cache (state/accounts.c): per chain, the eMode categories, the
 * kill switch and, for a chain small enough, every account and held position; the engine's
 * market assembled from a generation at a time; one account read from either. */
#ifndef SPARKD_STATE_ACCOUNTS_H
#define SPARKD_STATE_ACCOUNTS_H

#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "risk/account.h"
#include "state/hfindex.h"
#include "state/markets.h"

struct state_cache;
struct state_builder;
struct state_acc_store; /* owns accounts[] and positions[]; shared by generations (state/accounts.c) */
struct state_acc_view;
struct risk_health_market;

/* One stored position of a cached account (what the positions table holds, with its reserve id). */
struct state_acc_pos {
  u256 scaled_a, scaled_debt;
  int32_t reserve; /* -1: the reserves table does not list the asset */
  bool collateral;
};
/* One cached account: its positions are positions[first .. first + n_pos). */
struct state_acc {
  uint8_t addr[20];
  uint8_t emode;
  bool too_many; /* more positions than RISK_ACCOUNT_MAX_POSITIONS */
  uint16_t n_pos;
  uint32_t first;
  /* No debt whatever the market: no position with a debt balance, every position in a reserve
   * the reserves table lists, collateral balances below 2^64, at most RISK_ACCOUNT_MAX_POSITIONS.
   * Where every listed reserve is priced and in the fast domain such an account's health factor is
   * 2^256-1 at any prices, so a generation does not evaluate it (its collateral is computed when
   * asked for). */
  bool no_debt;
  int64_t block_number; /* the account row's block (the watch list shows it) */
};

/* The per-chain data the accounts builder attaches: eMode categories, kill switch, and, for a
 * chain of at most SPARKD_ACCOUNT_CACHE_MAX accounts, every account and position read in the same
 * transaction as the markets (accounts sorted by address). */
struct state_acc_chain {
  int64_t chain_id;
  bool emode_set[RISK_MAX_EMODE];
  struct risk_emode_category emode[RISK_MAX_EMODE];
  char emode_label[RISK_MAX_EMODE][48];
  bool kill_switch_known, kill_switch_triggered;
  bool accounts_cached; /* false: look accounts up in the database */
  size_t n_accounts, n_positions;
  struct state_acc *accounts;
  struct state_acc_pos *positions;
  /* Incremental rebuilds: accounts and positions belong to a reference-counted store that the
   * next generation shares when no import wrote an account since, and copies with only the
   * changed accounts re-read otherwise. changes_seq is the chain's change record (migration
   * 0015) this copy is at (changes_known: there was one); the reserves map (asset -> reserve id,
   * sorted by asset) is the one positions were resolved with: another one means a full read. */
  struct state_acc_store *store;
  bool changes_known;
  int64_t changes_seq;
  size_t n_res;
  struct state_acc_res {
    uint8_t addr[20];
    int32_t id;
  } res[RISK_MAX_RESERVES];
  /* Health factors live here, per generation, not in the database: computed in bulk from the
   * positions above and the chain's market at its block (docs/architecture.md). fig[i] is
   * accounts[i]'s figures (wide: those that do not fit in fig); the index holds the accounts that
   * have them (all of their used positions in priced, listed reserves), walked in (health factor,
   * address) order: the liquidation watch list (state_hf_seek, state_hf_get). */
  struct state_hf_fig *fig;
  struct state_acc_health *wide;
  size_t n_wide;
  struct state_hf_index hf;
  /* the market the figures were computed with (for the collateral of accounts not evaluated) */
  struct state_acc_view *hf_view;
  struct risk_health_market *hf_market;
};

/* One request's view of a chain: the engine market at time t (reserve ids index reserves[]),
 * with the state-cache reserve behind each id. Large (~70 KB): allocate it on the heap. */
struct state_acc_view {
  const struct state_market *mc;
  const struct state_acc_chain *x; /* NULL when the builder has not seen the chain */
  uint64_t t;
  const struct state_reserve *res[RISK_MAX_RESERVES]; /* NULL: no reserve at this id */
  bool priced[RISK_MAX_RESERVES];                     /* an oracle price (or an override) is known */
  struct risk_market m;
};

/* Returns the accounts builder's data for chain_id (borrowed from c), or NULL. */
const struct state_acc_chain *state_accounts_chain(const struct state_cache *c, int64_t chain_id);
/* Fills v with the market of mc at time t (>= the block timestamp); overrides (may be NULL) is
 * an array of n_reserves prices where a non-zero entry replaces the oracle price. Returns RISK_OK
 * or the engine's error (RISK_INVALID for a reserve id >= RISK_MAX_RESERVES). */
risk_err state_accounts_view(struct state_acc_view *v, const struct state_market *mc, const struct state_acc_chain *x,
                             uint64_t t, const u256 *overrides);
/* Returns the view of mc at its block's timestamp without overrides, kept per thread and rebuilt
 * when the cache generation of c changes (valid while the caller holds c), or NULL with *err. */
const struct state_acc_view *state_accounts_view_at_block(const struct state_cache *c, const struct state_market *mc,
                                                          const struct state_acc_chain *x, risk_err *err);
/* Returns the reserve id of asset (address any case, or symbol), or -1. */
int state_accounts_reserve_id(const struct state_acc_view *v, const char *asset);
/* Returns the status of reading account `lower` of v's chain into *a from the accounts x holds
 * (x->accounts_cached): empty with emode 0 when unknown (*found false then); DB_ERROR (logged) for
 * an account with a position v's market does not list or more positions than the engine takes. */
db_status state_accounts_find(const struct state_acc_chain *x, const struct state_acc_view *v, const char *lower,
                              struct risk_account *a, bool *found);
/* Reads account `lower` in one prepared query into *a (*found false and empty when unknown), and
 * whether the database is at v's block (*same_block; true when the chain has no row; *block the
 * database's). Returns DB_ERROR (logged) for a position v's market does not list, but only when
 * the blocks agree: at another block that is expected (a reserve listed by an import the cache
 * has not loaded yet). */
db_status state_accounts_read(db_conn *conn, const struct state_acc_view *v, const char *lower, struct risk_account *a,
                              bool *found, bool *same_block, int64_t *block);
/* Returns DB_OK after adding each chain's accounts data to the generation being built. */
db_status state_accounts_load(db_conn *conn, struct state_builder *b);

#endif

/* Shared by the SparkLend account handlers (handlers/accounts_get.c, handlers/quotes_post.c): the
 * engine's market assembled from the state cache at a time t, the account read (from the state
 * cache, or one query), and the JSON of positions and account totals. All account math is risk/account.h and risk/liquidation.h. */
#ifndef SPARKD_HANDLERS_ACCOUNTS_H
#define SPARKD_HANDLERS_ACCOUNTS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db/db.h"
#include "handlers/jsonw.h"
#include "handlers/markets.h"
#include "risk/account.h"
#include "risk/liquidation.h"

struct svc_cache;
struct svc_request;

/* One stored position of a cached account (what the positions table holds, with its reserve id). */
struct acc_pos_rec {
  u256 scaled_a, scaled_debt;
  int32_t reserve; /* -1: the reserves table does not list the asset */
  bool collateral;
};
/* One cached account: its positions are positions[first .. first + n_pos). */
struct acc_rec {
  uint8_t addr[20];
  uint8_t emode;
  bool too_many; /* more positions than RISK_ACCOUNT_MAX_POSITIONS */
  uint16_t n_pos;
  uint32_t first;
};

/* The per-chain data the accounts builder attaches: eMode categories, kill switch, and, for a
 * chain of at most SPARKD_ACCOUNT_CACHE_MAX accounts, every account and position read in the same
 * transaction as the markets (accounts sorted by address). */
struct acc_chain {
  int64_t chain_id;
  bool emode_set[RISK_MAX_EMODE];
  struct risk_emode_category emode[RISK_MAX_EMODE];
  char emode_label[RISK_MAX_EMODE][48];
  bool kill_switch_known, kill_switch_triggered;
  bool accounts_cached; /* false: look accounts up in the database */
  size_t n_accounts, n_positions;
  struct acc_rec *accounts;
  struct acc_pos_rec *positions;
};

/* One request's view of a chain: the engine market at time t (reserve ids index reserves[]),
 * with the state-cache reserve behind each id. Large (~70 KB): allocate it on the heap. */
struct acc_view {
  const struct mkt_chain *mc;
  const struct acc_chain *x; /* NULL when the builder has not seen the chain */
  uint64_t t;
  const struct mkt_reserve *res[RISK_MAX_RESERVES]; /* NULL: no reserve at this id */
  bool priced[RISK_MAX_RESERVES];                   /* an oracle price (or an override) is known */
  struct risk_market m;
};

/* Returns the accounts builder's data for chain_id (borrowed from c), or NULL. */
const struct acc_chain *handler_accounts_chain(const struct svc_cache *c, int64_t chain_id);
/* Fills v with the market of mc at time t (>= the block timestamp); overrides (may be NULL) is
 * an array of n_reserves prices where a non-zero entry replaces the oracle price. Returns RISK_OK
 * or the engine's error (RISK_INVALID for a reserve id >= RISK_MAX_RESERVES). */
risk_err handler_accounts_view(struct acc_view *v, const struct mkt_chain *mc, const struct acc_chain *x, uint64_t t,
                               const u256 *overrides);
/* Returns the view of mc at its block's timestamp without overrides, kept per thread and rebuilt
 * when the cache generation of c changes (valid while the caller holds c), or NULL with *err. */
const struct acc_view *handler_accounts_view_at_block(const struct svc_cache *c, const struct mkt_chain *mc,
                                                      const struct acc_chain *x, risk_err *err);
/* Returns the reserve id of asset (address any case, or symbol), or -1. */
int handler_accounts_reserve_id(const struct acc_view *v, const char *asset);
/* Returns true when s is a 0x-prefixed 40-hex-digit address (its lowercase form in lower). */
bool handler_accounts_parse_address(const char *s, char lower[43]);
/* Returns the status of reading account `lower` of v's chain into *a from the accounts x holds
 * (x->accounts_cached): empty with emode 0 when unknown (*found false then); DB_ERROR (logged) for
 * an account with a position v's market does not list or more positions than the engine takes. */
db_status handler_accounts_find(const struct acc_chain *x, const struct acc_view *v, const char *lower,
                                struct risk_account *a, bool *found);
/* Reads account `lower` into *a from the state cache when x holds the chain's accounts, else with
 * one query on a pooled connection. Returns true with *found set; false after replying (503
 * database_unavailable; 503 state_updating when the database holds the account at a newer block
 * than the cached market, i.e. an import is being loaded) or, with nothing replied (*replied
 * false), on an internal error. */
bool handler_accounts_fetch(struct svc_request *req, const struct acc_chain *x, const struct acc_view *v,
                            const char *lower, struct risk_account *a, bool *found, bool *replied);
/* Writes the JSON array of a's positions at v into w (liquidation prices for collateral when
 * with_liq_price); returns false on an engine error. */
bool handler_accounts_write_positions(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                                      bool with_liq_price);
/* The position objects one request has written, by their inputs, so that writing the same
 * position again (quotes write the account after every step; most positions do not change) is
 * a copy. Start with n = 0 and an empty text; free the text with jw_free. */
#define ACC_POS_MEMO_MAX 32
struct acc_pos_memo_entry {
  uint16_t reserve;
  bool collateral, priced;
  u256 scaled_a, scaled_debt, liquidity_index, variable_borrow_index, price;
  size_t off, len; /* the object's text in acc_pos_memo.text */
};
struct acc_pos_memo {
  uint32_t n;
  struct acc_pos_memo_entry e[ACC_POS_MEMO_MAX];
  struct jw text;
};
/* As handler_accounts_write_positions without liquidation prices, copying each position that m
 * holds for the same inputs and remembering the others. */
bool handler_accounts_write_positions_memo(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                                           struct acc_pos_memo *m);
/* Writes the account totals of d (and eMode, isolation) as members of the object open in w. */
void handler_accounts_write_totals(struct jw *w, const struct acc_view *v, const struct risk_account *a,
                                   const struct risk_account_data *d);
/* Writes the members of mc's as_of object (chain_id, block_number, block_timestamp, block_time)
 * into the object open in w, as handler_markets_as_of builds them. */
void handler_accounts_write_as_of_fields(struct jw *w, const struct mkt_chain *mc);
/* Writes name (integer string) and name with _base replaced by _usd (8-decimal human) into the
 * object open in w. */
void handler_accounts_write_base(struct jw *w, const char *name, u256 v);
/* Returns a new "18-decimal" string for a health factor, or JSON null for 2^256-1 (no debt). */
json_t *handler_accounts_hf_json(u256 hf);
/* Writes name (integer string) and name with _base replaced by _usd (8-decimal human) into obj. */
void handler_accounts_put_base(json_t *obj, const char *name, u256 v);

#endif

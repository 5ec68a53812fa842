/* The JSON of SparkLend accounts (views/account_json.c). */
#ifndef SPARKD_VIEWS_ACCOUNT_JSON_H
#define SPARKD_VIEWS_ACCOUNT_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "risk/account.h"
#include "state/accounts.h"
#include "views/jsonw.h"

/* Writes the JSON array of a's positions at v into w (liquidation prices for collateral when
 * with_liq_price); returns false on an engine error. */
bool view_write_positions(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                          bool with_liq_price);
/* The position objects one request has written, by their inputs, so that writing the same
 * position again (quotes write the account after every step; most positions do not change) is
 * a copy. Start with n = 0 and an empty text; free the text with jw_free. */
#define VIEW_POS_MEMO_MAX 32
struct view_pos_memo_entry {
  uint16_t reserve;
  bool collateral, priced;
  u256 scaled_a, scaled_debt, liquidity_index, variable_borrow_index, price;
  size_t off, len; /* the object's text in view_pos_memo.text */
};
struct view_pos_memo {
  uint32_t n;
  struct view_pos_memo_entry e[VIEW_POS_MEMO_MAX];
  struct jw text;
};
/* As view_write_positions without liquidation prices, copying each position that m
 * holds for the same inputs and remembering the others. */
bool view_write_positions_memo(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                               struct view_pos_memo *m);
/* Writes the account totals of d (and eMode, isolation) as members of the object open in w. */
void view_write_totals(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                       const struct risk_account_data *d);
/* Writes the members of mc's as_of object (chain_id, block_number, block_timestamp, block_time)
 * into the object open in w, as view_market_as_of builds them. */
void view_write_as_of_fields(struct jw *w, const struct state_market *mc);
/* Writes name (integer string) and name with _base replaced by _usd (8-decimal human) into the
 * object open in w. */
void view_write_base(struct jw *w, const char *name, u256 v);
/* Returns a new "18-decimal" string for a health factor, or JSON null for 2^256-1 (no debt). */
json_t *view_hf_json(u256 hf);
/* Writes name (integer string) and name with _base replaced by _usd (8-decimal human) into obj. */
void view_put_base(json_t *obj, const char *name, u256 v);

/* Writes the warnings array of a at v (health factor, kill switch, prices, frozen, paused,
 * inactive, zero-LTV collateral, debt ceiling) into w. */
void view_write_warnings(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                         const struct risk_account_data *d);

#endif

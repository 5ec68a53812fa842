/* POST /v1/quotes: what-if simulation of SparkLend actions before signing. The account (one
 * prepared query, or empty for a new account) and the chain's market from the state cache, with
 * optional price overrides and a later time `at`; actions are validated and applied in order by
 * the engine (risk/account.h) exactly as the Pool would, and each step reports the account and the
 * touched reserve's utilization and rates afterwards. The first step that would revert stops the
 * quote: its on-chain error name, index and the largest amount that would pass are reported (200:
 * the quote worked, the action would not). Nothing is written, no lock is taken. */
#include <ctype.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/accounts.h"
#include "handlers/bodies.h"
#include "handlers/common.h"
#include "handlers/handlers.h"
#include "risk/irm.h"
#include "risk/reserve.h"
#include "service/body.h"
#include "service/request.h"
#include "state/cache.h"
#include "util/log.h"
#include "views/account_json.h"
#include "views/jsonw.h"
#include "views/markets_json.h"

#define QUOTE_MAX_ACTIONS 20

static const char *const action_names[] = {"supply",         "withdraw",  "borrow", "repay",
                                           "set_collateral", "set_emode", NULL};
static const risk_action_kind action_kinds[] = {RISK_ACT_SUPPLY, RISK_ACT_WITHDRAW,       RISK_ACT_BORROW,
                                                RISK_ACT_REPAY,  RISK_ACT_SET_COLLATERAL, RISK_ACT_SET_EMODE};

struct quote_action {
  int type; /* index in action_names */
  const char *asset;
  u256 value;
  long long category;
  bool enabled, is_max, has_amount, has_enabled, has_category;
  risk_action_kind kind;
  int reserve;
  const char *amount; /* as sent, for the step's amount_requested */
};

struct quote_override {
  const char *asset;
  u256 price;
};

struct quote_body {
  long long chain, at;
  bool has_account, has_at;
  char account[43];
  size_t n_actions, n_overrides;
  struct quote_action act[QUOTE_MAX_ACTIONS];
  struct quote_override ov[RISK_MAX_RESERVES];
};

#define ACT(m) offsetof(struct quote_action, m)
static const struct svc_body_field action_spec[] = {
    {.name = "type", .type = SVC_BODY_ENUM, .required = true, .offset = ACT(type), .names = action_names},
    {.name = "asset", .type = SVC_BODY_STRING, .offset = ACT(asset)},
    {.name = "amount",
     .type = SVC_BODY_U256,
     .offset = ACT(value),
     .given = SVC_BODY_FLAG(struct quote_action, has_amount),
     .word = "max",
     .word_flag = SVC_BODY_FLAG(struct quote_action, is_max),
     .text = SVC_BODY_FLAG(struct quote_action, amount)},
    {.name = "enabled",
     .type = SVC_BODY_BOOL,
     .offset = ACT(enabled),
     .given = SVC_BODY_FLAG(struct quote_action, has_enabled)},
    {.name = "category",
     .type = SVC_BODY_INT,
     .offset = ACT(category),
     .lo = 0,
     .hi = 255,
     .given = SVC_BODY_FLAG(struct quote_action, has_category)},
};
#undef ACT
/* The largest price override, in bits, that the engine's base-currency math can carry for any
 * balance the Pool can hold: a balance is below 2^128 (Aave v3 keeps balances as uint128), the
 * engine multiplies it by the price in 256 bits, sums up to 128 reserves (2^7) and the health
 * factor multiplies the sum by 10^18 (< 2^60): 128 + 61 + 7 + 60 = 256. 2^61-1 base units is
 * about 23 billion USD per whole token, and any AaveOracle price of a real asset is far below it. */
#define QUOTE_PRICE_BITS 61
static const struct svc_body_field price_spec[] = {
    {.type = SVC_BODY_U256, .offset = offsetof(struct quote_override, price), .bits = QUOTE_PRICE_BITS},
};
#define QB(m) offsetof(struct quote_body, m)
static const struct svc_body_field quote_spec[] = {
    {.name = "chain", .type = SVC_BODY_INT, .required = true, .offset = QB(chain), .lo = 1, .hi = INT64_MAX},
    {.name = "account",
     .type = SVC_BODY_ADDRESS,
     .offset = QB(account),
     .given = SVC_BODY_FLAG(struct quote_body, has_account)},
    {.name = "actions",
     .type = SVC_BODY_ARRAY,
     .required = true,
     .offset = QB(act),
     .lo = 0,
     .hi = QUOTE_MAX_ACTIONS,
     .sub = action_spec,
     .nsub = sizeof action_spec / sizeof action_spec[0],
     .elem_size = sizeof(struct quote_action),
     .count_offset = QB(n_actions)},
    {.name = "price_overrides",
     .type = SVC_BODY_MAP,
     .offset = QB(ov),
     .lo = 0,
     .hi = RISK_MAX_RESERVES,
     .sub = price_spec,
     .nsub = 1,
     .elem_size = sizeof(struct quote_override),
     .count_offset = QB(n_overrides),
     .key_offset = offsetof(struct quote_override, asset)},
    {.name = "at",
     .type = SVC_BODY_INT,
     .offset = QB(at),
     .lo = 0,
     .hi = 1099511627775LL,
     .given = SVC_BODY_FLAG(struct quote_body, has_at)},
};
#undef QB

static bool takes_amount(risk_action_kind k) {
  return k == RISK_ACT_SUPPLY || k == RISK_ACT_WITHDRAW || k == RISK_ACT_BORROW || k == RISK_ACT_REPAY;
}

/* The checks across the members of one read action (which it needs depends on its type);
 * returns false after appending errors. */
static bool check_action(struct quote_action *qa, size_t i, json_t *errors) {
  char field[64];
  qa->kind = action_kinds[qa->type];
  qa->reserve = -1;
  bool ok = true;
  if (qa->kind != RISK_ACT_SET_EMODE && !qa->asset) {
    snprintf(field, sizeof field, "actions[%zu].asset", i);
    json_array_append_new(errors, svc_field_error(field, "required", "is required for this action"));
    ok = false;
  }
  if (takes_amount(qa->kind)) {
    if (!qa->has_amount) {
      snprintf(field, sizeof field, "actions[%zu].amount", i);
      json_array_append_new(errors, svc_field_error(field, "required", "is required for this action"));
      ok = false;
    } /* 0 goes to the engine: the chain reverts INVALID_AMOUNT, a quote result */
  }
  if (qa->kind == RISK_ACT_SET_COLLATERAL && !qa->has_enabled) {
    snprintf(field, sizeof field, "actions[%zu].enabled", i);
    json_array_append_new(errors, svc_field_error(field, "required", "is required for set_collateral"));
    ok = false;
  }
  if (qa->kind == RISK_ACT_SET_EMODE && !qa->has_category) {
    snprintf(field, sizeof field, "actions[%zu].category", i);
    json_array_append_new(errors, svc_field_error(field, "required", "is required for set_emode"));
    ok = false;
  }
  return ok;
}

/* Writes the account summary at the current state of v and a as an object into w; returns false
 * on an engine error (*err set) before writing anything. Without liquidation prices, positions
 * go through memo (the same position after a step that did not touch it is a copy). */
static bool write_account(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                          bool with_liq_price, struct view_pos_memo *memo, risk_err *err) {
  struct risk_account_data d;
  if ((*err = risk_account_evaluate(&v->m, a, &d))) return false;
  jw_obj(w);
  view_write_totals(w, v, a, &d);
  view_write_base(w, "borrowing_power_base", d.available_borrows_base);
  jw_key(w, "positions");
  if (!(with_liq_price ? view_write_positions(w, v, a, true) : view_write_positions_memo(w, v, a, memo))) {
    *err = RISK_OVERFLOW;
    return false;
  }
  jw_obj_end(w);
  return true;
}

/* Writes the reserve's utilization and rates as updateInterestRates leaves them after the step. */
static void write_reserve_after(struct jw *w, const struct state_acc_view *v, int id) {
  const struct risk_acct_reserve *r = &v->m.reserves[id];
  const struct state_reserve *mr = v->res[id];
  u256 idx = u256_is_zero(r->next_variable_borrow_index) ? r->variable_borrow_index : r->next_variable_borrow_index;
  u256 debt;
  struct risk_irm_rates rates;
  jw_obj(w);
  jw_kstr(w, "asset", mr->address_cs);
  jw_kstr(w, "symbol", mr->symbol);
  if (risk_reserve_from_scaled(&debt, r->variable_debt_scaled_total_supply, idx) != RISK_OK ||
      risk_irm_calculate(&rates, &mr->irm, debt, r->available_liquidity, mr->st.config.reserve_factor) != RISK_OK) {
    jw_kstr(w, "error", "the rate strategy reverts at this state");
    jw_obj_end(w);
    return;
  }
  jw_ku256(w, "available_liquidity", r->available_liquidity);
  jw_ku256(w, "total_debt", debt);
  jw_ku256_kfixed(w, "utilization_ray", "utilization", rates.utilization, 27);
  jw_ku256_kfixed(w, "liquidity_rate_ray", "liquidity_rate", rates.liquidity_rate, 27);
  jw_ku256_kfixed(w, "variable_borrow_rate_ray", "variable_borrow_rate", rates.variable_borrow_rate, 27);
  jw_obj_end(w);
}

/* Checks price_overrides.<asset> against the chain's reserves into prices[reserve id]; appends
 * problems to errors. seen[reserve id] marks the reserves an earlier key named: a symbol matches
 * in any case and an address names the same reserve as its symbol, so distinct keys can still
 * mean one reserve, and which price would win must not depend on key order. */
static void check_override(const struct state_market *mc, const struct quote_override *o, u256 *prices, bool *seen,
                           json_t *errors) {
  char field[128];
  snprintf(field, sizeof field, "price_overrides.%s", o->asset);
  const struct state_reserve *r = state_markets_find_reserve(mc, o->asset);
  if (!r || r->reserve_id < 0 || r->reserve_id >= RISK_MAX_RESERVES) {
    json_array_append_new(errors, svc_field_error(field, "unknown_asset", "is not a reserve of this chain"));
    return;
  }
  if (seen[r->reserve_id]) {
    json_array_append_new(errors, svc_field_error(field, "duplicate", "names a reserve an earlier key already prices"));
    return;
  }
  seen[r->reserve_id] = true;
  if (u256_is_zero(o->price))
    json_array_append_new(errors, svc_field_error(field, "out_of_range", "must be greater than 0"));
  else
    prices[r->reserve_id] = o->price;
}

/* Replies to an engine error while evaluating `what`: an overflow comes from the amounts and prices
 * the quote asked for (a supply no real token could hold, at the highest accepted price), so it is
 * the client's 422; anything else is our bug, a 500. Returns the handler result. */
static enum svc_handler_result not_computable(struct svc_request *req, risk_err e, const char *what) {
  if (e == RISK_OVERFLOW)
    return svc_reply_problem(req, SVC_ERR_not_computable,
                             "%s is worth more than the engine's 256-bit arithmetic can hold; use smaller amounts or "
                             "prices",
                             what);
  util_log(UTIL_LOG_ERROR, "quotes: evaluating %s: %s", what, risk_err_name(e));
  return SVC_HANDLER_FATAL;
}

enum svc_handler_result handler_quotes_post(struct svc_request *req) {
  struct quote_body *qb = malloc(sizeof *qb);
  if (!qb) return SVC_HANDLER_FATAL;
  memset(qb, 0, offsetof(struct quote_body, act)); /* the reader fills the elements it reads */
  struct svc_body *body = svc_body_parse(req, quote_spec, sizeof quote_spec / sizeof quote_spec[0], qb);
  if (!body) {
    free(qb);
    return SVC_HANDLED;
  }
  long long chain_id = qb->chain;
  struct quote_action *qa = qb->act;
  size_t n = qb->n_actions;
  const char *lower = qb->account;

  enum svc_handler_result res = SVC_HANDLER_FATAL;
  struct state_cache *c = NULL;
  struct state_acc_view *v = NULL;
  struct risk_account *a = NULL;
  u256 *prices = NULL;
  json_t *errors = json_array();

  for (size_t i = 0; i < n; i++)
    check_action(&qa[i], i, errors);
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
    errors = NULL;
    goto out;
  }

  c = state_cache_acquire();
  if (!c) {
    res = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
    goto out;
  }
  const struct state_market *mc = state_markets_chain(c, chain_id);
  if (!mc) {
    res = svc_reply_problem(req, SVC_ERR_chain_not_found, "no chain %lld has been imported", chain_id);
    goto out;
  }
  uint64_t t = (uint64_t)mc->block_timestamp;
  if (qb->has_at) {
    if ((uint64_t)qb->at < t)
      json_array_append_new(errors, svc_field_error("at", "before_block", "must not be before the chain's block"));
    else
      t = (uint64_t)qb->at;
  }
  /* Assets and price overrides against the chain's reserves. */
  v = malloc(sizeof *v);
  a = malloc(sizeof *a);
  /* Override prices by reserve id (4 KB zeroed): only when the quote has any. */
  bool any_override = qb->n_overrides > 0;
  if (any_override) prices = calloc(RISK_MAX_RESERVES, sizeof *prices);
  if (!v || !a || (any_override && !prices)) goto out;
  for (size_t i = 0; i < n; i++) {
    if (qa[i].kind == RISK_ACT_SET_EMODE) continue;
    const struct state_reserve *r = state_markets_find_reserve(mc, qa[i].asset);
    if (!r || r->reserve_id < 0 || r->reserve_id >= RISK_MAX_RESERVES) {
      char field[48];
      snprintf(field, sizeof field, "actions[%zu].asset", i);
      json_array_append_new(errors, svc_field_error(field, "unknown_asset", "is not a reserve of this chain"));
    } else {
      qa[i].reserve = r->reserve_id;
    }
  }
  bool seen[RISK_MAX_RESERVES] = {false};
  for (size_t i = 0; i < qb->n_overrides; i++)
    check_override(mc, &qb->ov[i], prices, seen, errors);
  if (json_array_size(errors)) {
    res = svc_reply_validation(req, errors);
    errors = NULL;
    goto out;
  }

  risk_err e = RISK_OK;
  const struct state_acc_chain *x = state_accounts_chain(c, chain_id);
  if (t == (uint64_t)mc->block_timestamp) {
    /* The per-thread view at the block, copied (steps change reserve totals), then the overrides:
     * prices feed only the evaluation, not the reserve's accrual. */
    const struct state_acc_view *bv = state_accounts_view_at_block(c, mc, x, &e);
    if (bv) {
      /* Only the reserves the chain has: the whole view is ~70 KB, most of it unused ids. */
      memcpy(v, bv, offsetof(struct state_acc_view, m));
      v->m.n_reserves = bv->m.n_reserves;
      memcpy(v->m.reserves, bv->m.reserves, bv->m.n_reserves * sizeof bv->m.reserves[0]);
      memcpy(v->m.emode, bv->m.emode, sizeof v->m.emode);
      for (uint32_t id = 0; id < v->m.n_reserves; id++) {
        if (!prices || u256_is_zero(prices[id])) continue;
        v->m.reserves[id].price = prices[id];
        v->priced[id] = true;
      }
    }
  } else {
    e = state_accounts_view(v, mc, x, t, prices);
  }
  if (e) {
    res = not_computable(req, e, "the market at the quoted time");
    goto out;
  }
  memset(a, 0, offsetof(struct risk_account, pos));
  if (qb->has_account) {
    bool found = false, replied = false;
    if (!handler_accounts_fetch(req, x, v, lower, a, &found, &replied)) {
      if (replied) res = SVC_HANDLED;
      goto out;
    }
  }

  struct jw w = {0}, sw = {0}, fw = {0};
  struct view_pos_memo memo; /* ~6 KB: only its count and text need a start value */
  memo.n = 0;
  memo.text = (struct jw){0};
  jw_obj(&w);
  jw_kint(&w, "chain_id", mc->chain_id);
  if (qb->has_account) {
    char cs[43];
    view_address_checksum(lower, cs);
    jw_kstr(&w, "account", cs);
  } else {
    jw_knull(&w, "account");
  }
  jw_key(&w, "as_of");
  jw_obj(&w);
  view_write_as_of_fields(&w, mc);
  jw_kint(&w, "evaluated_at", (int64_t)t);
  jw_obj_end(&w);
  jw_key(&w, "initial");
  if (!write_account(&w, v, a, false, &memo, &e)) {
    res = not_computable(req, e, "the initial account");
    goto out_w;
  }
  bool failed = false;
  jw_arr(&sw);
  for (size_t i = 0; i < n; i++) {
    struct quote_action *q = &qa[i];
    struct risk_action act = {.kind = q->kind,
                              .reserve = (uint16_t)(q->reserve < 0 ? 0 : q->reserve),
                              .amount = q->value,
                              .use_as_collateral = q->enabled,
                              .emode_category = (uint32_t)q->category};
    jw_obj(&sw);
    jw_kint(&sw, "index", (int64_t)i);
    jw_kstr(&sw, "type", action_names[q->type]);
    if (q->reserve >= 0)
      jw_kstr(&sw, "asset", v->res[q->reserve]->address_cs);
    else
      jw_knull(&sw, "asset");
    risk_onchain_err oe = RISK_ONCHAIN_OK;
    u256 max = U256_ZERO;
    bool unbounded = false, have_max = false;
    if (takes_amount(q->kind)) {
      jw_kstr(&sw, "amount_requested", q->amount);
      if (q->is_max) {
        oe = risk_account_max_amount(&v->m, a, &act, &max, &unbounded);
        have_max = true;
        if (unbounded) {
          char field[48];
          snprintf(field, sizeof field, "actions[%zu].amount", i);
          res = svc_reply_validation(
              req,
              json_pack("[o]", svc_field_error(field, "unbounded", "the reserve has no supply cap: give an amount")));
          goto out_w;
        }
        if (u256_is_zero(max)) {
          act.amount = U256_ZERO; /* nothing passes: report the smallest amount's revert */
        } else {
          act.amount = max;
          oe = RISK_ONCHAIN_OK;
        }
      }
    }
    if (!(q->is_max && u256_is_zero(max) && oe != RISK_ONCHAIN_OK)) oe = risk_account_apply(&v->m, a, &act);
    if (takes_amount(q->kind)) {
      if (!q->is_max || oe == RISK_ONCHAIN_OK) {
        jw_ku256_kfixed(&sw, "amount", "amount_human", act.amount, v->res[q->reserve]->decimals);
      } else {
        jw_knull(&sw, "amount");
        jw_knull(&sw, "amount_human");
      }
    }
    if (oe != RISK_ONCHAIN_OK) {
      if (takes_amount(q->kind) && !have_max) {
        act.amount = U256_ZERO;
        risk_account_max_amount(&v->m, a, &act, &max, &unbounded);
        have_max = true;
      }
      const char *code = risk_onchain_error_code(oe);
      jw_obj(&fw);
      jw_kint(&fw, "step", (int64_t)i);
      jw_kstr(&fw, "type", action_names[q->type]);
      jw_kstr(&fw, "error", risk_onchain_error_name(oe));
      if (code)
        jw_kstr(&fw, "error_code", code);
      else
        jw_knull(&fw, "error_code");
      if (have_max && !unbounded) {
        jw_ku256_kfixed(&fw, "max_amount", "max_amount_human", max, v->res[q->reserve]->decimals);
      } else {
        jw_knull(&fw, "max_amount");
        jw_knull(&fw, "max_amount_human");
      }
      jw_obj_end(&fw);
      jw_kbool(&sw, "ok", false);
      jw_kstr(&sw, "error", risk_onchain_error_name(oe));
      if (code)
        jw_kstr(&sw, "error_code", code);
      else
        jw_knull(&sw, "error_code");
      jw_obj_end(&sw);
      failed = true;
      break;
    }
    jw_kbool(&sw, "ok", true);
    jw_knull(&sw, "error");
    jw_knull(&sw, "error_code");
    jw_key(&sw, "account");
    if (!write_account(&sw, v, a, false, &memo, &e)) {
      char what[48];
      snprintf(what, sizeof what, "the account after step %zu", i);
      res = not_computable(req, e, what);
      goto out_w;
    }
    jw_key(&sw, "reserves");
    jw_arr(&sw);
    if (q->reserve >= 0 && q->kind != RISK_ACT_SET_COLLATERAL) write_reserve_after(&sw, v, q->reserve);
    jw_arr_end(&sw);
    jw_obj_end(&sw);
  }
  jw_arr_end(&sw);
  jw_kbool(&w, "ok", !failed);
  jw_key(&w, "failure");
  if (failed)
    jw_append(&w, &fw);
  else
    jw_null(&w);
  jw_key(&w, "steps");
  jw_append(&w, &sw);
  jw_key(&w, "final");
  if (!write_account(&w, v, a, true, &memo, &e)) {
    res = not_computable(req, e, "the final account");
    goto out_w;
  }
  jw_obj_end(&w);
  if (!w.oom) {
    res = svc_reply_take(req, 200, "application/json", w.buf, w.len);
    w.buf = NULL;
  }
out_w:
  jw_free(&w);
  jw_free(&sw);
  jw_free(&fw);
  jw_free(&memo.text);
out:
  json_decref(errors);
  svc_body_free(body);
  free(qb);
  free(prices);
  free(v);
  free(a);
  if (c) state_cache_release(c);
  return res;
}

const struct handler_body_spec handler_body_quotes = {
    "POST", "/v1/quotes", quote_spec, sizeof quote_spec / sizeof quote_spec[0], sizeof(struct quote_body)};

/* The JSON of SparkLend accounts: positions with their values and liquidation prices, account
 * totals, health factor, warnings; written with the streaming writer (views/jsonw.h), as the
 * account lookup and the quote write them on every request. */
#include "views/account_json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/liquidation.h"
#include "risk/reserve.h"
#include "risk/wadray.h"
#include "util/time.h"

json_t *view_hf_json(u256 hf) {
  if (u256_eq(hf, U256_MAX)) return json_null();
  char f[U256_DEC_MAX + 2];
  u256_to_fixed(hf, 18, f);
  return json_string(f);
}

static void put_u256(json_t *o, const char *name, u256 v) {
  char d[U256_DEC_MAX];
  u256_to_dec(v, d);
  json_object_set_new(o, name, json_string(d));
}

void view_put_base(json_t *obj, const char *name, u256 v) {
  char f[U256_DEC_MAX + 2], key[96];
  put_u256(obj, name, v);
  u256_to_fixed(v, 8, f);
  size_t n = strlen(name);
  if (n > 5 && strcmp(name + n - 5, "_base") == 0) n -= 5;
  snprintf(key, sizeof key, "%.*s_usd", (int)n, name);
  json_object_set_new(obj, key, json_string(f));
}

/* GenericLogic's base-currency value of an amount: fl(amount * price / unit). */
static u256 base_value(const struct risk_acct_reserve *r, u256 amount) {
  u256 out = U256_ZERO;
  if (u256_muldiv(&out, amount, r->price, r->unit) != RISK_OK) return U256_MAX;
  return out;
}

/* name (integer string) and name with _base replaced by _usd (8-decimal human). */
static void write_base(struct jw *w, const char *name, u256 v) {
  char key[96];
  size_t n = strlen(name);
  if (n > 5 && strcmp(name + n - 5, "_base") == 0) n -= 5;
  if (n > sizeof key - 5) n = sizeof key - 5;
  memcpy(key, name, n);
  memcpy(key + n, "_usd", 5);
  jw_ku256_kfixed(w, name, key, v, 8);
}

/* name: integer string; name_human: the same with `decimals` decimals. */
static void write_amount(struct jw *w, const char *name, u256 v, unsigned decimals) {
  char key[96];
  size_t n = strlen(name);
  if (n > sizeof key - 7) n = sizeof key - 7;
  memcpy(key, name, n);
  memcpy(key + n, "_human", 7);
  jw_ku256_kfixed(w, name, key, v, decimals);
}

void view_write_base(struct jw *w, const char *name, u256 v) { write_base(w, name, v); }

void view_write_as_of_fields(struct jw *w, const struct state_market *mc) {
  char t[32];
  jw_kint(w, "chain_id", mc->chain_id);
  jw_kint(w, "block_number", mc->block_number);
  jw_kint(w, "block_timestamp", mc->block_timestamp);
  jw_kstr(w, "block_time", util_time_rfc3339(mc->block_timestamp, t));
}

/* Writes position p of a at v as one object into w; returns false on an engine error. */
static bool write_position(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                           const struct risk_position *p, bool with_liq_price) {
  const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
  const struct state_reserve *mr = v->res[p->reserve];
  u256 supplied, borrowed;
  if (risk_reserve_from_scaled(&supplied, p->scaled_a, r->liquidity_index) != RISK_OK ||
      risk_reserve_from_scaled(&borrowed, p->scaled_debt, r->variable_borrow_index) != RISK_OK)
    return false;
  jw_obj(w);
  jw_kstr(w, "asset", mr->address_cs);
  jw_kstr(w, "symbol", mr->symbol);
  jw_kint(w, "decimals", mr->decimals);
  jw_kint(w, "reserve_id", p->reserve);
  jw_ku256(w, "scaled_supplied", p->scaled_a);
  write_amount(w, "supplied", supplied, mr->decimals);
  jw_ku256(w, "scaled_borrowed", p->scaled_debt);
  write_amount(w, "borrowed", borrowed, mr->decimals);
  jw_kbool(w, "collateral", p->collateral);
  if (v->priced[p->reserve]) {
    jw_ku256_kfixed(w, "price", "price_usd", r->price, 8);
    write_base(w, "supplied_base", base_value(r, supplied));
    write_base(w, "borrowed_base", base_value(r, borrowed));
  } else {
    jw_knull(w, "price");
    jw_knull(w, "price_usd");
    jw_knull(w, "supplied_base");
    jw_knull(w, "supplied_usd");
    jw_knull(w, "borrowed_base");
    jw_knull(w, "borrowed_usd");
  }
  if (with_liq_price) {
    bool exists = false;
    u256 lp = U256_ZERO;
    /* price 0 from the engine means safe at any price: no crossing, served null as documented */
    if (p->collateral && risk_liquidation_price(&v->m, a, p->reserve, &exists, &lp) == RISK_OK && exists &&
        !u256_is_zero(lp)) {
      jw_ku256_kfixed(w, "liquidation_price", "liquidation_price_usd", lp, 8);
    } else {
      jw_knull(w, "liquidation_price");
      jw_knull(w, "liquidation_price_usd");
    }
  }
  jw_obj_end(w);
  return true;
}

bool view_write_positions(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                          bool with_liq_price) {
  jw_arr(w);
  for (uint32_t i = 0; i < a->n_positions; i++)
    if (!write_position(w, v, a, &a->pos[i], with_liq_price)) return false;
  jw_arr_end(w);
  return true;
}

/* Returns true when entry e was written from the same inputs as position p at v: the object
 * depends on nothing else (the reserve's fixed data aside). */
static bool memo_matches(const struct view_pos_memo_entry *e, const struct state_acc_view *v,
                         const struct risk_position *p) {
  const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
  return e->reserve == p->reserve && e->collateral == p->collateral && e->priced == v->priced[p->reserve] &&
         u256_eq(e->scaled_a, p->scaled_a) && u256_eq(e->scaled_debt, p->scaled_debt) &&
         u256_eq(e->liquidity_index, r->liquidity_index) &&
         u256_eq(e->variable_borrow_index, r->variable_borrow_index) && u256_eq(e->price, r->price);
}

bool view_write_positions_memo(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                               struct view_pos_memo *m) {
  jw_arr(w);
  for (uint32_t i = 0; i < a->n_positions; i++) {
    const struct risk_position *p = &a->pos[i];
    struct view_pos_memo_entry *e = NULL;
    for (uint32_t k = 0; k < m->n && !e; k++)
      if (m->e[k].reserve == p->reserve) e = &m->e[k];
    if (e && memo_matches(e, v, p) && !m->text.oom) {
      jw_sep(w);
      jw_raw(w, m->text.buf + e->off, e->len);
      continue;
    }
    size_t start = w->len;
    if (!write_position(w, v, a, p, false)) return false;
    if (w->oom) return true; /* the caller sees w.oom */
    if (w->buf[start] == ',') start++;
    if (!e && m->n < VIEW_POS_MEMO_MAX) e = &m->e[m->n++];
    if (!e) continue;
    const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
    e->reserve = p->reserve;
    e->collateral = p->collateral;
    e->priced = v->priced[p->reserve];
    e->scaled_a = p->scaled_a;
    e->scaled_debt = p->scaled_debt;
    e->liquidity_index = r->liquidity_index;
    e->variable_borrow_index = r->variable_borrow_index;
    e->price = r->price;
    e->off = m->text.len;
    e->len = w->len - start;
    jw_raw(&m->text, w->buf + start, e->len);
  }
  jw_arr_end(w);
  return true;
}

void view_write_totals(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                       const struct risk_account_data *d) {
  write_base(w, "total_collateral_base", d->total_collateral_base);
  write_base(w, "total_debt_base", d->total_debt_base);
  write_base(w, "available_borrows_base", d->available_borrows_base);
  jw_kint(w, "current_ltv_bps", d->avg_ltv);
  jw_kint(w, "current_liquidation_threshold_bps", d->avg_liquidation_threshold);
  if (u256_eq(d->health_factor, U256_MAX)) {
    jw_knull(w, "health_factor");
    jw_knull(w, "health_factor_wad");
  } else {
    jw_kfixed_ku256(w, "health_factor", "health_factor_wad", d->health_factor, 18);
  }
  jw_kint(w, "emode_category", a->emode_category);
  if (a->emode_category && v->x && a->emode_category < RISK_MAX_EMODE && v->x->emode_set[a->emode_category]) {
    const struct risk_emode_category *e = &v->x->emode[a->emode_category];
    jw_key(w, "emode");
    jw_obj(w);
    jw_kint(w, "id", a->emode_category);
    jw_kstr(w, "label", v->x->emode_label[a->emode_category]);
    jw_kint(w, "ltv_bps", e->ltv);
    jw_kint(w, "liquidation_threshold_bps", e->liquidation_threshold);
    jw_kint(w, "liquidation_bonus_bps", e->liquidation_bonus);
    jw_obj_end(w);
  } else {
    jw_knull(w, "emode");
  }
  jw_kbool(w, "isolated", d->isolated);
  if (d->isolated) {
    const struct risk_acct_reserve *r = &v->m.reserves[d->isolation_collateral];
    const struct state_reserve *mr = v->res[d->isolation_collateral];
    jw_key(w, "isolation");
    jw_obj(w);
    jw_kstr(w, "asset", mr->address_cs);
    jw_kstr(w, "symbol", mr->symbol);
    /* Debt ceiling and isolation-mode debt are USD with 2 decimals. */
    u256 ceiling = u256_from_u64(r->debt_ceiling);
    jw_ku256_kfixed(w, "debt_ceiling", "debt_ceiling_usd", ceiling, 2);
    jw_ku256_kfixed(w, "isolation_mode_total_debt", "isolation_mode_total_debt_usd", r->isolation_mode_total_debt, 2);
    u256 used = U256_ZERO;
    if (r->debt_ceiling) u256_muldiv(&used, r->isolation_mode_total_debt, u256_from_u64(10000), ceiling);
    uint64_t ub = 0;
    u256_to_u64(used, &ub);
    jw_kint(w, "debt_ceiling_used_bps", (int64_t)ub);
    jw_obj_end(w);
  } else {
    jw_knull(w, "isolation");
  }
}

/* ---- GET /v1/accounts/{chain}/{address} ----------------------------------------------------- */

static void warn(struct jw *w, const char *code, const char *severity, const char *asset, const char *message) {
  jw_obj(w);
  jw_kstr(w, "code", code);
  jw_kstr(w, "severity", severity);
  jw_kstr(w, "message", message);
  if (asset)
    jw_kstr(w, "asset", asset);
  else
    jw_knull(w, "asset");
  jw_obj_end(w);
}

void view_write_warnings(struct jw *w, const struct state_acc_view *v, const struct risk_account *a,
                         const struct risk_account_data *d) {
  jw_arr(w);
  if (!u256_eq(d->health_factor, U256_MAX)) {
    u256 one1 = u256_from_u64(1100000000000000000ull);
    if (u256_lt(d->health_factor, RISK_WAD))
      warn(w, "liquidatable", "critical", NULL, "health factor below 1: the account can be liquidated");
    else if (u256_lt(d->health_factor, one1))
      warn(w, "health_factor_low", "warning", NULL, "health factor below 1.1");
  }
  if (v->x && v->x->kill_switch_triggered && d->n_borrowing_bits)
    warn(w, "kill_switch_triggered", "warning", NULL, "the kill switch is triggered: borrowing is disabled");
  for (uint32_t i = 0; i < a->n_positions; i++) {
    const struct risk_position *p = &a->pos[i];
    const struct risk_acct_reserve *r = &v->m.reserves[p->reserve];
    const char *asset = v->res[p->reserve]->address_cs;
    if (!v->priced[p->reserve])
      warn(w, "price_missing", "critical", asset, "no oracle price: values of this reserve are not counted");
    if (p->collateral && r->frozen) warn(w, "collateral_frozen", "warning", asset, "collateral reserve is frozen");
    if (r->paused) warn(w, "reserve_paused", "critical", asset, "reserve is paused: no action on it goes through");
    if (!r->active) warn(w, "reserve_inactive", "critical", asset, "reserve is not active");
    if (p->collateral && !u256_is_zero(p->scaled_a) && r->ltv == 0 && d->n_borrowing_bits)
      warn(w, "zero_ltv_collateral", "warning", asset,
           "collateral with ltv 0: withdrawals of other collateral and new borrows are blocked");
  }
  if (d->isolated) {
    const struct risk_acct_reserve *r = &v->m.reserves[d->isolation_collateral];
    u256 lim = U256_ZERO;
    if (u256_muldiv(&lim, u256_from_u64(r->debt_ceiling), u256_from_u64(9500), u256_from_u64(10000)) == RISK_OK &&
        u256_ge(r->isolation_mode_total_debt, lim))
      warn(w, "debt_ceiling_nearly_used", "info", v->res[d->isolation_collateral]->address_cs,
           "isolation debt ceiling at least 95% used");
  }
  jw_arr_end(w);
}

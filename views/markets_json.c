/* The JSON of SparkLend reserves: config, state accrued to a time, caps and headroom, price, rate
 * strategy with its curve and rate source. */
#include "views/markets_json.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "risk/savings.h"
#include "risk/wadray.h"
#include "state/cache.h"
#include "util/log.h"
#include "util/time.h"
#include "views/json.h"

/* ---- percent strings -------------------------------------------------------------------------- */

/* A rate with `decimals` decimals as a short percent string: (RAY) 12500000000000000000000000 -> "1.25%". */
static void percent_dec(u256 v, unsigned decimals, char *out, size_t len) {
  char f[U256_DEC_MAX + 2];
  u256_to_fixed(v, decimals >= 2 ? decimals - 2 : 0, f);
  char *dot = strchr(f, '.');
  if (dot) {
    char *end = f + strlen(f) - 1;
    while (end > dot && *end == '0')
      *end-- = 0;
    if (end == dot) *end = 0;
  }
  snprintf(out, len, "%s%%", f);
}

static void percent(u256 ray, char *out, size_t len) { percent_dec(ray, 27, out, len); }

/* "capped oracle APR [2%, 5.5%] (default 3%)" from the stored CappedFallback bounds (in the
 * source's decimals); just "capped oracle APR" when they are not there. */
static void capped_name(const struct state_reserve *r, char *out, size_t len) {
  snprintf(out, len, "capped oracle APR");
  json_t *j = json_loads(r->source_json, 0, NULL);
  const char *lo = json_string_value(json_object_get(j, "lower_bound"));
  const char *hi = json_string_value(json_object_get(j, "upper_bound"));
  const char *df = json_string_value(json_object_get(j, "default_rate"));
  u256 l, h, d;
  if (lo && hi && df && u256_parse_dec(lo, &l) && u256_parse_dec(hi, &h) && u256_parse_dec(df, &d)) {
    char pl[96], ph[96], pd[96];
    percent_dec(l, r->irm.source.decimals, pl, sizeof pl);
    percent_dec(h, r->irm.source.decimals, ph, sizeof ph);
    percent_dec(d, r->irm.source.decimals, pd, sizeof pd);
    snprintf(out, len, "capped oracle APR [%.40s, %.40s] (default %.40s)", pl, ph, pd);
  }
  json_decref(j);
}

json_t *view_market_as_of(const struct state_market *m) {
  const struct state_as_of a = {m->chain_id, m->block_number, m->block_timestamp};
  return view_as_of_json(&a);
}

/* ---- reserve JSON --------------------------------------------------------------------------- */

risk_err view_reserve_put_state(json_t *o, const struct risk_reserve_state *s, unsigned decimals) {
  risk_err e;
  u256 supplied, borrowed, util = U256_ZERO, sum, s_apy, b_apy;
  if ((e = risk_reserve_from_scaled(&supplied, s->a_token_scaled_total_supply, s->liquidity_index))) return e;
  if ((e = risk_reserve_from_scaled(&borrowed, s->variable_debt_scaled_total_supply, s->variable_borrow_index)))
    return e;
  if (!u256_is_zero(borrowed)) {
    if ((e = u256_add(&sum, s->available_liquidity, borrowed))) return e;
    if ((e = risk_ray_div(&util, borrowed, sum))) return e;
  }
  if ((e = risk_savings_get_apy(&s_apy, s->current_liquidity_rate))) return e;
  if ((e = risk_savings_get_apy(&b_apy, s->current_variable_borrow_rate))) return e;
  view_put_amount(o, "total_supplied", supplied, decimals);
  view_put_amount(o, "total_borrowed", borrowed, decimals);
  view_put_amount(o, "available_liquidity", s->available_liquidity, decimals);
  view_put_ray(o, "utilization", &util);
  json_object_set_new(o, "liquidity_index_ray", view_json_u256(s->liquidity_index));
  json_object_set_new(o, "variable_borrow_index_ray", view_json_u256(s->variable_borrow_index));
  json_object_set_new(o, "liquidity_rate_ray", view_json_u256(s->current_liquidity_rate));
  json_object_set_new(o, "variable_borrow_rate_ray", view_json_u256(s->current_variable_borrow_rate));
  json_object_set_new(o, "supply_apr", view_json_fixed(s->current_liquidity_rate, 27));
  json_object_set_new(o, "borrow_apr", view_json_fixed(s->current_variable_borrow_rate, 27));
  view_put_ray(o, "supply_apy", &s_apy);
  view_put_ray(o, "borrow_apy", &b_apy);
  return RISK_OK;
}

/* cap (whole tokens, 0 = none) as an amount, and the headroom above used; null when uncapped. */
static risk_err put_cap(json_t *o, const char *name, uint64_t cap, unsigned decimals, u256 used) {
  char key[64];
  snprintf(key, sizeof key, "%s_headroom", name);
  if (cap == 0) {
    char k2[64];
    json_object_set_new(o, name, json_null());
    snprintf(k2, sizeof k2, "%s_human", name);
    json_object_set_new(o, k2, json_null());
    json_object_set_new(o, key, json_null());
    snprintf(k2, sizeof k2, "%s_headroom_human", name);
    json_object_set_new(o, k2, json_null());
    return RISK_OK;
  }
  u256 unit, amount;
  risk_err e;
  if ((e = u256_pow10(&unit, decimals))) return e;
  if ((e = u256_mul(&amount, u256_from_u64(cap), unit))) return e;
  view_put_amount(o, name, amount, decimals);
  view_put_amount(o, key, u256_gt(amount, used) ? u256_sub_wrap(amount, used) : U256_ZERO, decimals);
  return RISK_OK;
}

/* ---- the rate curve, kept between generations ----
 * A strategy's curve (~100 points) depends only on the strategy (with its rate source's reading)
 * and the reserve factor, which rarely change, and building it was most of a generation's
 * rendering: ~7 of ~8 ms with 18 reserves. The last curves built are kept per process and handed
 * out as copies (a generation's renderers and the requests that render a reserve at another time
 * share them). */
#define CURVE_MEMO 64
static struct {
  pthread_mutex_t mu;
  size_t next;
  struct curve_memo {
    bool used;
    struct risk_irm irm;
    uint32_t rf;
    json_t *pts;
  } v[CURVE_MEMO];
} memo = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

static bool same_source(const struct risk_rate_source *a, const struct risk_rate_source *b) {
  return a->kind == b->kind && u256_eq(a->value, b->value) && a->decimals == b->decimals &&
         a->reverted == b->reverted && a->capped == b->capped && u256_eq(a->lower_bound, b->lower_bound) &&
         u256_eq(a->upper_bound, b->upper_bound) && u256_eq(a->default_rate, b->default_rate);
}

static bool same_irm(const struct risk_irm *a, const struct risk_irm *b) {
  return a->kind == b->kind && u256_eq(a->optimal_usage_ratio, b->optimal_usage_ratio) &&
         u256_eq(a->base_variable_borrow_rate, b->base_variable_borrow_rate) &&
         u256_eq(a->variable_rate_slope1, b->variable_rate_slope1) &&
         u256_eq(a->variable_rate_slope2, b->variable_rate_slope2) && a->spread_negative == b->spread_negative &&
         u256_eq(a->spread, b->spread) && same_source(&a->source, &b->source);
}

/* Returns a copy of the memo of (irm, rf), or NULL. */
static json_t *memo_get(const struct risk_irm *irm, uint32_t rf) {
  json_t *pts = NULL;
  pthread_mutex_lock(&memo.mu);
  for (size_t i = 0; i < CURVE_MEMO && !pts; i++)
    if (memo.v[i].used && memo.v[i].rf == rf && same_irm(&memo.v[i].irm, irm)) pts = json_deep_copy(memo.v[i].pts);
  pthread_mutex_unlock(&memo.mu);
  return pts;
}

static void memo_put(const struct risk_irm *irm, uint32_t rf, const json_t *pts) {
  json_t *copy = json_deep_copy(pts);
  if (!copy) return;
  pthread_mutex_lock(&memo.mu);
  struct curve_memo *m = &memo.v[memo.next];
  memo.next = (memo.next + 1) % CURVE_MEMO;
  json_decref(m->pts);
  *m = (struct curve_memo){.used = true, .irm = *irm, .rf = rf, .pts = copy};
  pthread_mutex_unlock(&memo.mu);
}

/* Returns the curve of r's strategy (p: its parameters) as points, or null; never NULL. */
static json_t *curve_json(const struct state_reserve *r, const struct risk_irm_params *p) {
  json_t *pts = memo_get(&r->irm, r->st.config.reserve_factor);
  if (pts) return pts;
  struct risk_irm_curve *curve = malloc(sizeof *curve); /* ~10 KB: not on a request thread's stack */
  pts = json_null();
  if (curve && risk_irm_curve(curve, &r->irm, r->st.config.reserve_factor) == RISK_OK) {
    pts = json_array();
    for (size_t i = 0; i < curve->count; i++) {
      json_t *pt = json_object();
      view_put_ray(pt, "utilization", &curve->points[i].utilization);
      view_put_ray(pt, "variable_borrow_rate", &curve->points[i].variable_borrow_rate);
      view_put_ray(pt, "liquidity_rate", &curve->points[i].liquidity_rate);
      json_object_set_new(pt, "kink", json_boolean(u256_eq(curve->points[i].utilization, p->optimal_usage_ratio)));
      json_array_append_new(pts, pt);
    }
    memo_put(&r->irm, r->st.config.reserve_factor, pts);
  }
  free(curve);
  return pts;
}

/* Returns the strategy object (kind, parameters, rate source, curve); never NULL. */
static json_t *strategy_json(const struct state_reserve *r) {
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(r->irm_address_cs));
  json_object_set_new(o, "kind", json_string(r->irm_kind));
  struct risk_irm_params p;
  risk_err e = risk_irm_get_params(&p, &r->irm);
  if (e == RISK_OK) {
    view_put_ray(o, "optimal_usage_ratio", &p.optimal_usage_ratio);
    view_put_ray(o, "base_variable_borrow_rate", &p.base_variable_borrow_rate);
    view_put_ray(o, "variable_rate_slope1", &p.variable_rate_slope1);
    view_put_ray(o, "variable_rate_slope2", &p.variable_rate_slope2);
    view_put_ray(o, "max_variable_borrow_rate", &p.max_variable_borrow_rate);
  }
  bool target = r->irm.kind == RISK_IRM_RATE_TARGET_BASE || r->irm.kind == RISK_IRM_RATE_TARGET_KINK;
  if (target) {
    char d[U256_DEC_MAX + 1], pct[96];
    d[0] = '-';
    u256_to_dec(r->irm.spread, d + 1);
    json_object_set_new(o, "spread_ray", json_string(r->irm.spread_negative ? d : d + 1));
    percent(r->irm.spread, pct, sizeof pct);
    char capped[200];
    capped_name(r, capped, sizeof capped);
    const char *src = strcmp(r->source_kind, "ssr") == 0               ? "SSR"
                      : strcmp(r->source_kind, "pot") == 0             ? "DSR"
                      : strcmp(r->source_kind, "capped_fallback") == 0 ? capped
                                                                       : "oracle APR";
    char desc[320];
    snprintf(desc, sizeof desc, "%s %s %s", src, r->irm.spread_negative ? "-" : "+", pct);
    json_t *s = json_object();
    json_object_set_new(s, "kind", json_string(r->source_kind));
    json_object_set_new(s, "address", r->source_address_cs[0] ? json_string(r->source_address_cs) : json_null());
    u256 apr_ray;
    json_object_set_new(s, "apr_raw", view_json_u256(r->irm.source.value)); /* getAPR() in the source's own decimals */
    json_object_set_new(s, "decimals", json_integer(r->irm.source.decimals));
    view_put_ray(s, "apr", risk_rate_source_apr_ray(&apr_ray, &r->irm.source) == RISK_OK ? &apr_ray : NULL);
    json_object_set_new(s, "description", json_string(desc));
    json_object_set_new(o, "rate_source", s);
    json_object_set_new(o, "description",
                        json_string(r->irm.kind == RISK_IRM_RATE_TARGET_KINK ? "borrow rate at the kink = rate source"
                                                                             : "base rate = rate source"));
  } else {
    json_object_set_new(o, "spread_ray", json_null());
    json_object_set_new(o, "rate_source", json_null());
    json_object_set_new(o, "description", json_string("fixed parameters"));
  }
  json_object_set_new(o, "curve", e == RISK_OK ? curve_json(r, &p) : json_null());
  return o;
}

/* Returns the reserve object at time t (>= the block's timestamp), or NULL with *err set. */
static json_t *reserve_json(const struct state_market *m, const struct state_reserve *r, uint64_t t, bool detail,
                            risk_err *err) {
  struct risk_reserve_state s;
  risk_err e = RISK_OK;
  if (t < r->st.last_update_timestamp) { /* never on consistent data: show the stored state */
    s = r->st;
  } else if ((e = risk_reserve_update_state(&s, &r->st, t))) {
    *err = e;
    return NULL;
  }
  /* The indexes shown are the pool's views getReserveNormalizedIncome / VariableDebt at t (updateState
   * leaves the borrow index alone when there is no debt; the view still compounds it). */
  if (t >= r->st.last_update_timestamp && ((e = risk_reserve_normalized_income(&s.liquidity_index, &r->st, t)) ||
                                           (e = risk_reserve_normalized_debt(&s.variable_borrow_index, &r->st, t)))) {
    *err = e;
    return NULL;
  }
  const struct risk_reserve_config *c = &r->st.config;
  json_t *o = json_object();
  json_object_set_new(o, "chain_id", json_integer(m->chain_id));
  json_object_set_new(o, "symbol", json_string(r->symbol));
  json_object_set_new(o, "name", json_string(r->name));
  json_object_set_new(o, "address", json_string(r->address_cs));
  json_object_set_new(o, "decimals", json_integer(r->decimals));
  json_object_set_new(o, "reserve_id", json_integer(r->reserve_id));
  json_object_set_new(o, "a_token", json_string(r->a_token_cs));
  json_object_set_new(o, "variable_debt_token", json_string(r->debt_token_cs));
  json_object_set_new(o, "ltv_bps", json_integer(c->ltv));
  json_object_set_new(o, "liquidation_threshold_bps", json_integer(c->liquidation_threshold));
  json_object_set_new(o, "liquidation_bonus_bps", json_integer(c->liquidation_bonus));
  json_object_set_new(o, "liquidation_protocol_fee_bps", json_integer(c->liquidation_protocol_fee));
  json_object_set_new(o, "reserve_factor_bps", json_integer(c->reserve_factor));
  json_object_set_new(o, "emode_category", json_integer(c->emode_category));
  json_object_set_new(o, "debt_ceiling", json_integer((json_int_t)c->debt_ceiling));
  json_t *f = json_object();
  json_object_set_new(f, "active", json_boolean(c->active));
  json_object_set_new(f, "frozen", json_boolean(c->frozen));
  json_object_set_new(f, "paused", json_boolean(c->paused));
  json_object_set_new(f, "borrowing_enabled", json_boolean(c->borrowing_enabled));
  json_object_set_new(f, "stable_borrowing_enabled", json_boolean(c->stable_borrowing_enabled));
  json_object_set_new(f, "borrowable_in_isolation", json_boolean(c->borrowable_in_isolation));
  json_object_set_new(f, "siloed_borrowing", json_boolean(c->siloed_borrowing));
  json_object_set_new(f, "flashloan_enabled", json_boolean(c->flashloan_enabled));
  json_object_set_new(f, "usage_as_collateral_enabled", json_boolean(c->liquidation_threshold != 0));
  json_object_set_new(f, "isolated", json_boolean(c->debt_ceiling != 0));
  json_object_set_new(o, "flags", f);

  if ((e = view_reserve_put_state(o, &s, r->decimals))) goto fail;
  /* Caps as SupplyLogic/BorrowLogic check them: (scaled supply + accrued to treasury) at the
   * income index, and the total variable debt. */
  u256 scaled_all, supply_used, borrowed;
  if ((e = u256_add(&scaled_all, s.a_token_scaled_total_supply, s.accrued_to_treasury))) goto fail;
  if ((e = risk_reserve_from_scaled(&supply_used, scaled_all, s.liquidity_index))) goto fail;
  if ((e = risk_reserve_from_scaled(&borrowed, s.variable_debt_scaled_total_supply, s.variable_borrow_index)))
    goto fail;
  if ((e = put_cap(o, "supply_cap", c->supply_cap, r->decimals, supply_used))) goto fail;
  if ((e = put_cap(o, "borrow_cap", c->borrow_cap, r->decimals, borrowed))) goto fail;
  view_put_amount(o, "accrued_to_treasury", s.accrued_to_treasury, r->decimals);
  if (r->has_price) {
    char ps[U256_DEC_MAX + 2];
    json_object_set_new(o, "price", view_json_u256(r->price));
    u256_to_fixed(r->price, 8, ps);
    json_object_set_new(o, "price_usd", json_string(ps));
    json_object_set_new(o, "price_updated_at", json_integer((json_int_t)r->price_updated_at));
  } else {
    json_object_set_new(o, "price", json_null());
    json_object_set_new(o, "price_usd", json_null());
    json_object_set_new(o, "price_updated_at", json_null());
  }
  json_object_set_new(o, "last_update_timestamp", json_integer((json_int_t)r->st.last_update_timestamp));
  if (detail) json_object_set_new(o, "interest_rate_strategy", strategy_json(r));
  return o;
fail:
  json_decref(o);
  *err = e;
  return NULL;
}

/* {"data": [...every reserve at t...], "as_of", "at", "next_cursor": null}, or NULL with *err. */
json_t *view_reserves_list(const struct state_market *m, uint64_t t, risk_err *err) {
  json_t *data = json_array();
  for (size_t i = 0; i < m->n; i++) {
    json_t *r = reserve_json(m, &m->r[i], t, false, err);
    if (!r) {
      json_decref(data);
      return NULL;
    }
    json_array_append_new(data, r);
  }
  return json_pack("{so so sI sn}", "data", data, "as_of", view_market_as_of(m), "at", (json_int_t)t, "next_cursor");
}

json_t *view_reserve_single(const struct state_market *m, const struct state_reserve *r, uint64_t t, risk_err *err) {
  json_t *d = reserve_json(m, r, t, true, err);
  if (!d) return NULL;
  return json_pack("{so so sI}", "data", d, "as_of", view_market_as_of(m), "at", (json_int_t)t);
}

/* ---- the pre-serialised responses ----------------------------------------------------------- */

/* Sum over reserves of amount * price / 10^decimals (the oracle's 8-decimal base currency). */
static void market_totals(const struct state_market *m, u256 *supplied_base, u256 *borrowed_base) {
  *supplied_base = *borrowed_base = U256_ZERO;
  for (size_t i = 0; i < m->n; i++) {
    const struct state_reserve *r = &m->r[i];
    struct risk_reserve_state s;
    u256 unit, a, b, va, vb;
    if (!r->has_price || (uint64_t)m->block_timestamp < r->st.last_update_timestamp ||
        risk_reserve_update_state(&s, &r->st, (uint64_t)m->block_timestamp) != RISK_OK ||
        u256_pow10(&unit, r->decimals) != RISK_OK ||
        risk_reserve_from_scaled(&a, s.a_token_scaled_total_supply, s.liquidity_index) != RISK_OK ||
        risk_reserve_from_scaled(&b, s.variable_debt_scaled_total_supply, s.variable_borrow_index) != RISK_OK ||
        u256_muldiv(&va, a, r->price, unit) != RISK_OK || u256_muldiv(&vb, b, r->price, unit) != RISK_OK)
      continue;
    u256_add(supplied_base, *supplied_base, va);
    u256_add(borrowed_base, *borrowed_base, vb);
  }
}

static const char *chain_name(int64_t id) {
  switch (id) {
  case 1: return "Ethereum";
  case 10: return "Optimism";
  case 100: return "Gnosis";
  case 130: return "Unichain";
  case 8453: return "Base";
  case 42161: return "Arbitrum One";
  case 11155111: return "Sepolia";
  }
  return NULL;
}

static json_t *emode_list(const struct state_market *m) {
  json_t *data = json_array();
  for (size_t k = 0; k < m->n_emode; k++) {
    const struct state_emode *e = &m->emode[k];
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer(e->id));
    json_object_set_new(o, "label", json_string(e->label));
    json_object_set_new(o, "ltv_bps", json_integer(e->ltv));
    json_object_set_new(o, "liquidation_threshold_bps", json_integer(e->liquidation_threshold));
    json_object_set_new(o, "liquidation_bonus_bps", json_integer(e->liquidation_bonus));
    json_object_set_new(o, "price_source", e->price_source[0] ? view_json_address(e->price_source) : json_null());
    json_t *members = json_array();
    for (size_t i = 0; i < m->n; i++)
      if ((int)m->r[i].st.config.emode_category == e->id)
        json_array_append_new(members, json_pack("{ss ss}", "symbol", m->r[i].symbol, "address", m->r[i].address_cs));
    json_object_set_new(o, "reserves", members);
    json_array_append_new(data, o);
  }
  return json_pack("{so so sn}", "data", data, "as_of", view_market_as_of(m), "next_cursor");
}

bool view_markets_render(struct state_builder *b) {
  const struct state_markets *all = state_builder_data(b, STATE_MARKETS_KEY);
  if (!all) return true;
  json_t *chains = json_array(), *markets = json_array();
  const struct state_market *newest = NULL;
  char id[24], key[128], t1[32];
  for (size_t c = 0; c < all->n; c++) {
    const struct state_market *m = all->v[c];
    snprintf(id, sizeof id, "%lld", (long long)m->chain_id);
    risk_err err = RISK_OK;
    uint64_t t = (uint64_t)m->block_timestamp;
    for (size_t k = 0; k < m->n; k++) {
      json_t *body = view_reserve_single(m, &m->r[k], t, &err);
      if (!body) {
        util_log(UTIL_LOG_ERROR, "markets: reserve %s of chain %s cannot be evaluated: %s", m->r[k].address, id,
                 risk_err_name(err));
        continue;
      }
      snprintf(key, sizeof key, "/v1/markets/%s/reserves/%s", id, m->r[k].address);
      state_cache_put_json(b, key, body, NULL, NULL);
    }
    snprintf(key, sizeof key, "/v1/markets/%s/emode-categories", id);
    state_cache_put_json(b, key, emode_list(m), NULL, NULL);

    u256 sup, bor;
    market_totals(m, &sup, &bor);
    char sd[U256_DEC_MAX], bd[U256_DEC_MAX], sf[U256_DEC_MAX + 2], bf[U256_DEC_MAX + 2];
    u256_to_dec(sup, sd);
    u256_to_dec(bor, bd);
    u256_to_fixed(sup, 8, sf);
    u256_to_fixed(bor, 8, bf);
    const char *name = chain_name(m->chain_id);
    json_array_append_new(chains,
                          json_pack("{sI so sI ss sI ss ss so}", "chain_id", (json_int_t)m->chain_id, "name",
                                    name ? json_string(name) : json_null(), "block_number", (json_int_t)m->block_number,
                                    "block_hash", m->block_hash, "block_timestamp", (json_int_t)m->block_timestamp,
                                    "block_time", util_time_rfc3339(m->block_timestamp, t1), "imported_at",
                                    m->imported_at, "as_of", view_market_as_of(m)));
    char links_r[96], links_e[96];
    snprintf(links_r, sizeof links_r, "/v1/markets/%s/reserves", id);
    snprintf(links_e, sizeof links_e, "/v1/markets/%s/emode-categories", id);
    json_array_append_new(markets, json_pack("{sI ss sI ss ss ss ss s{ss ss} so}", "chain_id", (json_int_t)m->chain_id,
                                             "protocol", "sparklend", "reserves_count", (json_int_t)m->n,
                                             "total_supplied_base", sd, "total_supplied_usd", sf, "total_borrowed_base",
                                             bd, "total_borrowed_usd", bf, "links", "reserves", links_r,
                                             "emode_categories", links_e, "as_of", view_market_as_of(m)));
    if (!newest || m->block_timestamp > newest->block_timestamp) newest = m;
    json_t *list = view_reserves_list(m, t, &err);
    if (!list) {
      util_log(UTIL_LOG_ERROR, "markets: chain %s reserves cannot be evaluated: %s", id, risk_err_name(err));
      list = json_pack("{s[] so sI sn}", "data", "as_of", view_market_as_of(m), "at", (json_int_t)t, "next_cursor");
    }
    snprintf(key, sizeof key, "/v1/markets/%s/reserves", id);
    state_cache_put_json(b, key, list, NULL, NULL);
  }
  json_t *newest_as_of = newest ? view_market_as_of(newest) : json_null();
  bool ok = state_cache_put_json(
      b, "/v1/chains", json_pack("{so sO sn}", "data", chains, "as_of", newest_as_of, "next_cursor"), NULL, NULL);
  ok = state_cache_put_json(b, "/v1/markets",
                            json_pack("{so so sn}", "data", markets, "as_of", newest_as_of, "next_cursor"), NULL,
                            NULL) &&
       ok;
  return ok;
}

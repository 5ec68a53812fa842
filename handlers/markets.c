/* SparkLend markets from the state cache: GET /v1/chains, /v1/markets,
 * /v1/markets/{chain}/reserves, /v1/markets/{chain}/reserves/{asset} and
 * /v1/markets/{chain}/emode-categories, and the cache builder that pre-serialises them.
 *
 * Values are the chain's views at the latest imported block's timestamp: every reserve is run
 * through ReserveLogic.updateState to that time (indexes, accrued treasury), the stored rates are
 * what the pool returns until the next action. `?at=` re-runs the same code at a later time from
 * the typed data attached to the list entry, without the database. */
#include "handlers/markets.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "handlers/common.h"
#include "handlers/handlers.h"
#include "risk/eip55.h"
#include "risk/savings.h"
#include "risk/wadray.h"
#include "service/cache.h"
#include "service/log.h"
#include "service/request.h"

/* ---- statements ----------------------------------------------------------------------------- */

static const struct db_statement stmts[] = {
    {"markets_chains",
     "SELECT chain_id, block_number, block_hash, block_timestamp,"
     " to_char(imported_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM chains ORDER BY chain_id"},
    {"markets_reserves",
     "SELECT r.asset, a.symbol, coalesce(a.name, a.symbol), r.decimals, r.reserve_id, r.configuration::text,"
     " r.liquidity_index::text, r.variable_borrow_index::text, r.current_liquidity_rate::text,"
     " r.current_variable_borrow_rate::text, r.last_update_timestamp, r.a_token, r.variable_debt_token,"
     " r.a_token_scaled_total_supply::text, r.variable_debt_scaled_total_supply::text,"
     " r.accrued_to_treasury::text, r.isolation_mode_total_debt::text, r.available_liquidity::text,"
     " r.irm_address, r.irm_kind, r.irm_optimal_usage_ratio::text, r.irm_base_variable_borrow_rate::text,"
     " r.irm_variable_rate_slope1::text, r.irm_variable_rate_slope2::text, r.irm_spread::text,"
     " r.irm_rate_source->>'kind', r.irm_rate_source->>'address', r.irm_rate_source->>'apr',"
     " r.irm_rate_source->>'decimals', r.irm_rate_source::text, p.price::text, p.updated_at"
     " FROM reserves r JOIN assets a ON a.chain_id = r.chain_id AND a.address = r.asset"
     " LEFT JOIN prices p ON p.chain_id = r.chain_id AND p.asset = r.asset"
     " WHERE r.chain_id = $1 ORDER BY r.reserve_id"},
    {"markets_emode", "SELECT category_id, ltv, liquidation_threshold, liquidation_bonus, price_source, label"
                      " FROM emode_categories WHERE chain_id = $1 ORDER BY category_id"},
};

static void register_statements(void) {
  if (db_statements_register(stmts, sizeof stmts / sizeof stmts[0]) != 0)
    svc_log(SVC_LOG_ERROR, "markets: statements could not be registered");
}
static pthread_once_t stmts_once = PTHREAD_ONCE_INIT;

/* ---- small helpers -------------------------------------------------------------------------- */

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
static void capped_name(const struct mkt_reserve *r, char *out, size_t len) {
  snprintf(out, len, "capped oracle APR");
  json_t *j = json_loads(r->source_json, 0, NULL);
  const char *lo = json_string_value(json_object_get(j, "lower_bound"));
  const char *hi = json_string_value(json_object_get(j, "upper_bound"));
  const char *df = json_string_value(json_object_get(j, "default_rate"));
  u256 l, h, d;
  if (lo && hi && df && handler_parse_u256(lo, &l) && handler_parse_u256(hi, &h) && handler_parse_u256(df, &d)) {
    char pl[96], ph[96], pd[96];
    percent_dec(l, r->irm.source.decimals, pl, sizeof pl);
    percent_dec(h, r->irm.source.decimals, ph, sizeof ph);
    percent_dec(d, r->irm.source.decimals, pd, sizeof pd);
    snprintf(out, len, "capped oracle APR [%.40s, %.40s] (default %.40s)", pl, ph, pd);
  }
  json_decref(j);
}

bool handler_markets_parse_chain(const char *text, int64_t *id) { return handler_parse_chain_id(text, id); }

char *handler_markets_time(int64_t t, char buf[32]) { return handler_time_rfc3339(t, buf); }

json_t *handler_markets_as_of(const struct mkt_chain *m) {
  const struct handler_chain_asof a = {m->chain_id, m->block_number, m->block_timestamp};
  return handler_as_of_json(&a);
}

/* ---- reserve JSON --------------------------------------------------------------------------- */

risk_err handler_markets_put_state(json_t *o, const struct risk_reserve_state *s, unsigned decimals) {
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
  handler_put_amount(o, "total_supplied", supplied, decimals);
  handler_put_amount(o, "total_borrowed", borrowed, decimals);
  handler_put_amount(o, "available_liquidity", s->available_liquidity, decimals);
  handler_put_ray(o, "utilization", &util);
  json_object_set_new(o, "liquidity_index_ray", handler_json_u256(s->liquidity_index));
  json_object_set_new(o, "variable_borrow_index_ray", handler_json_u256(s->variable_borrow_index));
  json_object_set_new(o, "liquidity_rate_ray", handler_json_u256(s->current_liquidity_rate));
  json_object_set_new(o, "variable_borrow_rate_ray", handler_json_u256(s->current_variable_borrow_rate));
  json_object_set_new(o, "supply_apr", handler_json_fixed(s->current_liquidity_rate, 27));
  json_object_set_new(o, "borrow_apr", handler_json_fixed(s->current_variable_borrow_rate, 27));
  handler_put_ray(o, "supply_apy", &s_apy);
  handler_put_ray(o, "borrow_apy", &b_apy);
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
  handler_put_amount(o, name, amount, decimals);
  handler_put_amount(o, key, u256_gt(amount, used) ? u256_sub_wrap(amount, used) : U256_ZERO, decimals);
  return RISK_OK;
}

/* Returns the strategy object (kind, parameters, rate source, curve); never NULL. */
static json_t *strategy_json(const struct mkt_reserve *r) {
  json_t *o = json_object();
  json_object_set_new(o, "address", json_string(r->irm_address_cs));
  json_object_set_new(o, "kind", json_string(r->irm_kind));
  struct risk_irm_params p;
  risk_err e = risk_irm_get_params(&p, &r->irm);
  if (e == RISK_OK) {
    handler_put_ray(o, "optimal_usage_ratio", &p.optimal_usage_ratio);
    handler_put_ray(o, "base_variable_borrow_rate", &p.base_variable_borrow_rate);
    handler_put_ray(o, "variable_rate_slope1", &p.variable_rate_slope1);
    handler_put_ray(o, "variable_rate_slope2", &p.variable_rate_slope2);
    handler_put_ray(o, "max_variable_borrow_rate", &p.max_variable_borrow_rate);
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
    json_object_set_new(s, "apr_raw",
                        handler_json_u256(r->irm.source.value)); /* getAPR() in the source's own decimals */
    json_object_set_new(s, "decimals", json_integer(r->irm.source.decimals));
    handler_put_ray(s, "apr", risk_rate_source_apr_ray(&apr_ray, &r->irm.source) == RISK_OK ? &apr_ray : NULL);
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
  struct risk_irm_curve *curve = malloc(sizeof *curve); /* ~10 KB: not on a request thread's stack */
  json_t *pts = json_null();
  if (curve && e == RISK_OK && risk_irm_curve(curve, &r->irm, r->st.config.reserve_factor) == RISK_OK) {
    pts = json_array();
    for (size_t i = 0; i < curve->count; i++) {
      json_t *pt = json_object();
      handler_put_ray(pt, "utilization", &curve->points[i].utilization);
      handler_put_ray(pt, "variable_borrow_rate", &curve->points[i].variable_borrow_rate);
      handler_put_ray(pt, "liquidity_rate", &curve->points[i].liquidity_rate);
      json_object_set_new(pt, "kink", json_boolean(u256_eq(curve->points[i].utilization, p.optimal_usage_ratio)));
      json_array_append_new(pts, pt);
    }
  }
  free(curve);
  json_object_set_new(o, "curve", pts);
  return o;
}

/* Returns the reserve object at time t (>= the block's timestamp), or NULL with *err set. */
static json_t *reserve_json(const struct mkt_chain *m, const struct mkt_reserve *r, uint64_t t, bool detail,
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

  if ((e = handler_markets_put_state(o, &s, r->decimals))) goto fail;
  /* Caps as SupplyLogic/BorrowLogic check them: (scaled supply + accrued to treasury) at the
   * income index, and the total variable debt. */
  u256 scaled_all, supply_used, borrowed;
  if ((e = u256_add(&scaled_all, s.a_token_scaled_total_supply, s.accrued_to_treasury))) goto fail;
  if ((e = risk_reserve_from_scaled(&supply_used, scaled_all, s.liquidity_index))) goto fail;
  if ((e = risk_reserve_from_scaled(&borrowed, s.variable_debt_scaled_total_supply, s.variable_borrow_index)))
    goto fail;
  if ((e = put_cap(o, "supply_cap", c->supply_cap, r->decimals, supply_used))) goto fail;
  if ((e = put_cap(o, "borrow_cap", c->borrow_cap, r->decimals, borrowed))) goto fail;
  handler_put_amount(o, "accrued_to_treasury", s.accrued_to_treasury, r->decimals);
  if (r->has_price) {
    char ps[U256_DEC_MAX + 2];
    json_object_set_new(o, "price", handler_json_u256(r->price));
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
static json_t *list_body(const struct mkt_chain *m, uint64_t t, risk_err *err) {
  json_t *data = json_array();
  for (size_t i = 0; i < m->n; i++) {
    json_t *r = reserve_json(m, &m->r[i], t, false, err);
    if (!r) {
      json_decref(data);
      return NULL;
    }
    json_array_append_new(data, r);
  }
  return json_pack("{so so sI sn}", "data", data, "as_of", handler_markets_as_of(m), "at", (json_int_t)t,
                   "next_cursor");
}

static json_t *single_body(const struct mkt_chain *m, const struct mkt_reserve *r, uint64_t t, risk_err *err) {
  json_t *d = reserve_json(m, r, t, true, err);
  if (!d) return NULL;
  return json_pack("{so so sI}", "data", d, "as_of", handler_markets_as_of(m), "at", (json_int_t)t);
}

/* ---- the cache builder ---------------------------------------------------------------------- */

struct chain_row {
  int64_t id, block, ts;
  char hash[67], imported_at[32];
};
struct chains_acc {
  struct chain_row *rows;
  size_t n, cap;
};

static db_status chain_row_cb(const db_row *row, void *arg) {
  struct chains_acc *a = arg;
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    struct chain_row *p = realloc(a->rows, cap * sizeof *p);
    if (!p) return DB_ERROR;
    a->rows = p;
    a->cap = cap;
  }
  struct chain_row *c = &a->rows[a->n++];
  c->id = atoll(db_row_text(row, 0));
  c->block = atoll(db_row_text(row, 1));
  snprintf(c->hash, sizeof c->hash, "%s", db_row_text(row, 2));
  c->ts = atoll(db_row_text(row, 3));
  snprintf(c->imported_at, sizeof c->imported_at, "%s", db_row_text(row, 4));
  return DB_OK;
}

struct reserves_acc {
  struct mkt_chain *m;
  size_t cap;
};

static bool parse_int256(const char *text, bool *neg, u256 *mag) {
  *neg = false;
  *mag = U256_ZERO;
  if (!text) return true;
  if (*text == '-') {
    *neg = true;
    text++;
  }
  return handler_parse_u256(text, mag);
}

static db_status reserve_row_cb(const db_row *row, void *arg) {
  struct reserves_acc *a = arg;
  struct mkt_chain *m = a->m;
  if (m->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 32;
    struct mkt_reserve *p = realloc(m->r, cap * sizeof *p);
    if (!p) return DB_ERROR;
    m->r = p;
    a->cap = cap;
  }
  struct mkt_reserve *r = &m->r[m->n];
  memset(r, 0, sizeof *r);
  unsigned i = 0;
#define T(k) db_row_text(row, (k))
  snprintf(r->address, sizeof r->address, "%s", T(i++));
  risk_eip55(r->address, r->address_cs);
  snprintf(r->symbol, sizeof r->symbol, "%s", T(i++));
  snprintf(r->name, sizeof r->name, "%s", T(i++));
  r->decimals = (unsigned)atoi(T(i++));
  r->reserve_id = atoi(T(i++));
  u256 bitmap;
  bool ok = handler_parse_u256(T(i++), &bitmap);
  risk_reserve_config_decode(bitmap, &r->st.config);
  ok = ok && handler_parse_u256(T(i++), &r->st.liquidity_index) &&
       handler_parse_u256(T(i++), &r->st.variable_borrow_index) &&
       handler_parse_u256(T(i++), &r->st.current_liquidity_rate) &&
       handler_parse_u256(T(i++), &r->st.current_variable_borrow_rate);
  r->st.last_update_timestamp = (uint64_t)atoll(T(i++));
  risk_eip55(T(i++), r->a_token_cs);
  risk_eip55(T(i++), r->debt_token_cs);
  ok = ok && handler_parse_u256(T(i++), &r->st.a_token_scaled_total_supply) &&
       handler_parse_u256(T(i++), &r->st.variable_debt_scaled_total_supply) &&
       handler_parse_u256(T(i++), &r->st.accrued_to_treasury) &&
       handler_parse_u256(T(i++), &r->st.isolation_mode_total_debt) &&
       handler_parse_u256(T(i++), &r->st.available_liquidity);
  risk_eip55(T(i++), r->irm_address_cs);
  snprintf(r->irm_kind, sizeof r->irm_kind, "%s", T(i++));
  struct risk_irm *irm = &r->irm;
  irm->kind = strcmp(r->irm_kind, "default") == 0            ? RISK_IRM_DEFAULT
              : strcmp(r->irm_kind, "variable_borrow") == 0  ? RISK_IRM_VARIABLE_BORROW
              : strcmp(r->irm_kind, "rate_target_base") == 0 ? RISK_IRM_RATE_TARGET_BASE
                                                             : RISK_IRM_RATE_TARGET_KINK;
  ok = ok && handler_parse_u256(T(i++), &irm->optimal_usage_ratio) &&
       handler_parse_u256(T(i++), &irm->base_variable_borrow_rate) &&
       handler_parse_u256(T(i++), &irm->variable_rate_slope1) && handler_parse_u256(T(i++), &irm->variable_rate_slope2);
  ok = ok && parse_int256(T(i++), &irm->spread_negative, &irm->spread);
  const char *sk = T(i++), *sa = T(i++), *sapr = T(i++), *sdec = T(i++), *sjson = T(i++);
  if (sk) {
    r->has_source = true;
    snprintf(r->source_kind, sizeof r->source_kind, "%s", sk);
    if (sa) risk_eip55(sa, r->source_address_cs);
    snprintf(r->source_json, sizeof r->source_json, "%s", sjson ? sjson : "");
    /* The stored apr is the source's getAPR() after any CappedFallback clamp: read it as an oracle. */
    irm->source.kind = RISK_RATE_SOURCE_ORACLE;
    irm->source.decimals = sdec ? (unsigned)atoi(sdec) : 27;
    ok = ok && handler_parse_u256(sapr, &irm->source.value);
  }
  const char *price = T(i++), *pu = T(i++);
  if (price) {
    r->has_price = handler_parse_u256(price, &r->price);
    r->price_updated_at = pu ? (uint64_t)atoll(pu) : 0;
  }
#undef T
  if (!ok) {
    svc_log(SVC_LOG_ERROR, "markets: reserve %s of chain %lld has a malformed stored value", r->address,
            (long long)m->chain_id);
    return DB_ERROR;
  }
  r->liquidation_protocol_fee = r->st.config.liquidation_protocol_fee;
  r->unbacked_mint_cap = r->st.config.unbacked_mint_cap;
  r->debt_ceiling = r->st.config.debt_ceiling;
  m->n++;
  return DB_OK;
}

static void free_chain(void *p) {
  struct mkt_chain *m = p;
  if (!m) return;
  free(m->r);
  free(m);
}

struct emode_acc {
  json_t *data;
  const struct mkt_chain *m;
};

static db_status emode_row_cb(const db_row *row, void *arg) {
  struct emode_acc *a = arg;
  int id = atoi(db_row_text(row, 0));
  char lower[43];
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer(id));
  json_object_set_new(o, "label", json_string(db_row_text(row, 5)));
  json_object_set_new(o, "ltv_bps", json_integer(atoi(db_row_text(row, 1))));
  json_object_set_new(o, "liquidation_threshold_bps", json_integer(atoi(db_row_text(row, 2))));
  json_object_set_new(o, "liquidation_bonus_bps", json_integer(atoi(db_row_text(row, 3))));
  bool zero = true;
  snprintf(lower, sizeof lower, "%s", db_row_text(row, 4));
  for (int k = 2; lower[k]; k++)
    if (lower[k] != '0') zero = false;
  if (zero) {
    json_object_set_new(o, "price_source", json_null());
  } else {
    json_object_set_new(o, "price_source", handler_json_address(lower));
  }
  json_t *members = json_array();
  for (size_t i = 0; i < a->m->n; i++)
    if ((int)a->m->r[i].st.config.emode_category == id)
      json_array_append_new(members,
                            json_pack("{ss ss}", "symbol", a->m->r[i].symbol, "address", a->m->r[i].address_cs));
  json_object_set_new(o, "reserves", members);
  json_array_append_new(a->data, o);
  return DB_OK;
}

/* Sum over reserves of amount * price / 10^decimals (the oracle's 8-decimal base currency). */
static void market_totals(const struct mkt_chain *m, u256 *supplied_base, u256 *borrowed_base) {
  *supplied_base = *borrowed_base = U256_ZERO;
  for (size_t i = 0; i < m->n; i++) {
    const struct mkt_reserve *r = &m->r[i];
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

db_status handler_markets_build_cache(db_conn *conn, struct svc_cache_builder *b) {
  pthread_once(&stmts_once, register_statements);
  struct chains_acc ca = {0};
  db_status s = db_query_prepared(conn, "markets_chains", 0, NULL, chain_row_cb, &ca, NULL);
  if (s != DB_OK) {
    free(ca.rows);
    return s;
  }
  json_t *chains = json_array(), *markets = json_array();
  const struct chain_row *newest = NULL;
  json_t *newest_as_of = json_null();
  for (size_t i = 0; i < ca.n && s == DB_OK; i++) {
    const struct chain_row *cr = &ca.rows[i];
    struct mkt_chain *m = calloc(1, sizeof *m);
    if (!m) {
      s = DB_ERROR;
      break;
    }
    m->chain_id = cr->id;
    m->block_number = cr->block;
    m->block_timestamp = cr->ts;
    char id[24], key[128];
    snprintf(id, sizeof id, "%lld", (long long)cr->id);
    const char *params[] = {id};
    struct reserves_acc ra = {m, 0};
    s = db_query_prepared(conn, "markets_reserves", 1, params, reserve_row_cb, &ra, NULL);
    if (s != DB_OK) {
      free_chain(m);
      break;
    }
    risk_err err = RISK_OK;
    uint64_t t = (uint64_t)m->block_timestamp;
    /* One entry per reserve (by lowercase address), then the list carrying the typed data. */
    for (size_t k = 0; k < m->n; k++) {
      json_t *body = single_body(m, &m->r[k], t, &err);
      if (!body) {
        svc_log(SVC_LOG_ERROR, "markets: reserve %s of chain %s cannot be evaluated: %s", m->r[k].address, id,
                risk_err_name(err));
        continue;
      }
      snprintf(key, sizeof key, "/v1/markets/%s/reserves/%s", id, m->r[k].address);
      svc_cache_put_json(b, key, body, NULL, NULL);
    }
    struct emode_acc ea = {json_array(), m};
    s = db_query_prepared(conn, "markets_emode", 1, params, emode_row_cb, &ea, NULL);
    if (s != DB_OK) {
      json_decref(ea.data);
      free_chain(m);
      break;
    }
    snprintf(key, sizeof key, "/v1/markets/%s/emode-categories", id);
    svc_cache_put_json(
        b, key, json_pack("{so so sn}", "data", ea.data, "as_of", handler_markets_as_of(m), "next_cursor"), NULL, NULL);

    u256 sup, bor;
    market_totals(m, &sup, &bor);
    char sd[U256_DEC_MAX], bd[U256_DEC_MAX], sf[U256_DEC_MAX + 2], bf[U256_DEC_MAX + 2], t1[32];
    u256_to_dec(sup, sd);
    u256_to_dec(bor, bd);
    u256_to_fixed(sup, 8, sf);
    u256_to_fixed(bor, 8, bf);
    const char *name = chain_name(cr->id);
    json_array_append_new(chains, json_pack("{sI so sI ss sI ss ss so}", "chain_id", (json_int_t)cr->id, "name",
                                            name ? json_string(name) : json_null(), "block_number",
                                            (json_int_t)cr->block, "block_hash", cr->hash, "block_timestamp",
                                            (json_int_t)cr->ts, "block_time", handler_time_rfc3339(cr->ts, t1),
                                            "imported_at", cr->imported_at, "as_of", handler_markets_as_of(m)));
    char links_r[96], links_e[96];
    snprintf(links_r, sizeof links_r, "/v1/markets/%s/reserves", id);
    snprintf(links_e, sizeof links_e, "/v1/markets/%s/emode-categories", id);
    json_array_append_new(markets, json_pack("{sI ss sI ss ss ss ss s{ss ss} so}", "chain_id", (json_int_t)cr->id,
                                             "protocol", "sparklend", "reserves_count", (json_int_t)m->n,
                                             "total_supplied_base", sd, "total_supplied_usd", sf, "total_borrowed_base",
                                             bd, "total_borrowed_usd", bf, "links", "reserves", links_r,
                                             "emode_categories", links_e, "as_of", handler_markets_as_of(m)));
    if (!newest || cr->ts > newest->ts) {
      newest = cr;
      json_decref(newest_as_of);
      newest_as_of = handler_markets_as_of(m);
    }
    json_t *list = list_body(m, t, &err);
    if (!list) {
      svc_log(SVC_LOG_ERROR, "markets: chain %s reserves cannot be evaluated: %s", id, risk_err_name(err));
      list = json_pack("{s[] so sI sn}", "data", "as_of", handler_markets_as_of(m), "at", (json_int_t)t, "next_cursor");
    }
    snprintf(key, sizeof key, "/v1/markets/%s/reserves", id);
    svc_cache_put_json(b, key, list, m, free_chain); /* m is freed with the cache from here on */
  }
  free(ca.rows);
  if (s != DB_OK) {
    json_decref(chains);
    json_decref(markets);
    json_decref(newest_as_of);
    return s;
  }
  svc_cache_put_json(b, "/v1/chains", json_pack("{so sO sn}", "data", chains, "as_of", newest_as_of, "next_cursor"),
                     NULL, NULL);
  svc_cache_put_json(b, "/v1/markets", json_pack("{so so sn}", "data", markets, "as_of", newest_as_of, "next_cursor"),
                     NULL, NULL);
  return DB_OK;
}

/* ---- lookups shared with the history handler ------------------------------------------------ */

const struct mkt_chain *handler_markets_chain(const struct svc_cache *c, int64_t chain_id) {
  char key[64];
  snprintf(key, sizeof key, "/v1/markets/%lld/reserves", (long long)chain_id);
  const struct svc_cache_item *it = svc_cache_get(c, key);
  return it ? it->data : NULL;
}

const struct mkt_reserve *handler_markets_find_reserve(const struct mkt_chain *m, const char *asset) {
  char lower[43];
  bool by_address = handler_parse_address(asset, lower);
  for (size_t i = 0; i < m->n; i++) {
    if (by_address ? strcmp(m->r[i].address, lower) == 0 : strcasecmp(m->r[i].symbol, asset) == 0) return &m->r[i];
  }
  return NULL;
}

bool handler_markets_asset_ok(struct svc_request *req, const char *asset, enum svc_handler_result *res) {
  char lower[43];
  if (asset && !(asset[0] == '0' && (asset[1] == 'x' || asset[1] == 'X') && !handler_parse_address(asset, lower)))
    return true;
  *res = svc_reply_problem_fields(
      req, SVC_ERR_invalid_parameter,
      json_pack("[o]", svc_field_error("asset", "invalid_address", "must be 0x followed by 40 hex digits")),
      "the asset is not an address");
  return false;
}

/* ---- handlers ------------------------------------------------------------------------------- */

/* Returns the cache, or NULL after replying 503 (not built yet). */
static struct svc_cache *cache_or_503(struct svc_request *req) {
  struct svc_cache *c = svc_cache_acquire(req->srv);
  if (!c) svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  return c;
}

/* Parses ?at= against the chain's block; returns 0 when absent, 1 with *t set, -1 after a 400. */
static int parse_at(struct svc_request *req, const struct mkt_chain *m, uint64_t *t) {
  const char *at = svc_req_query(req, "at");
  if (!at) return 0;
  bool digits = *at && strlen(at) <= 12;
  for (const char *p = at; *p && digits; p++)
    digits = isdigit((unsigned char)*p);
  if (!digits) {
    svc_reply_problem_fields(req, SVC_ERR_bad_query_parameter,
                             json_pack("[o]", svc_field_error("at", "not_an_integer", "must be unix seconds")),
                             "at must be unix seconds");
    return -1;
  }
  uint64_t v = strtoull(at, NULL, 10);
  if (v < (uint64_t)m->block_timestamp) {
    svc_reply_problem_fields(
        req, SVC_ERR_bad_query_parameter,
        json_pack("[o]", svc_field_error("at", "before_block", "must not be before the block the state is as of")),
        "at %llu is before block %lld (timestamp %lld)", (unsigned long long)v, (long long)m->block_number,
        (long long)m->block_timestamp);
    return -1;
  }
  *t = v;
  return 1;
}

static enum svc_handler_result reply_projection(struct svc_request *req, json_t *body, risk_err err) {
  if (!body)
    return svc_reply_problem_fields(
        req, SVC_ERR_bad_query_parameter,
        json_pack("[o]", svc_field_error("at", "out_of_range", "too far ahead: the chain's arithmetic overflows")),
        "the state cannot be projected to that time (%s)", risk_err_name(err));
  return svc_reply_json_steal(req, 200, body);
}

static enum svc_handler_result chain_not_found(struct svc_request *req, const char *chain) {
  return svc_reply_problem(req, SVC_ERR_chain_not_found, "no imported state for chain %.40s", chain);
}

/* Reads the {chain} path parameter into chain[32] ("?" when absent or too long) and *id; returns false
 * when it is not a chain id. */
static bool chain_param(struct svc_request *req, char chain[32], int64_t *id) {
  if (svc_req_param(req, "chain", chain, 32)) return handler_parse_chain_id(chain, id);
  snprintf(chain, 32, "?");
  return false;
}

/* Serves a whole-path cache entry (chains, markets). */
static enum svc_handler_result serve_key(struct svc_request *req, const char *key) {
  struct svc_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  bool found;
  enum svc_handler_result r = svc_reply_cached(req, c, key, &found);
  if (!found) { /* the builder always writes these keys: only a failed build can miss them */
    r = svc_reply_problem(req, SVC_ERR_state_not_ready, "the chain state is not loaded yet; retry shortly");
  }
  svc_cache_release(c);
  return r;
}

enum svc_handler_result handler_chains_list(struct svc_request *req) { return serve_key(req, "/v1/chains"); }

enum svc_handler_result handler_markets_list(struct svc_request *req) { return serve_key(req, "/v1/markets"); }

enum svc_handler_result handler_reserves_list(struct svc_request *req) {
  char chain[32];
  int64_t id;
  if (!chain_param(req, chain, &id)) return chain_not_found(req, chain);
  struct svc_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res;
  const struct mkt_chain *m = handler_markets_chain(c, id);
  uint64_t t;
  int at;
  if (!m) {
    res = chain_not_found(req, chain);
  } else if ((at = parse_at(req, m, &t)) < 0) {
    res = SVC_HANDLED;
  } else if (at > 0) {
    risk_err err = RISK_OK;
    res = reply_projection(req, list_body(m, t, &err), err);
  } else {
    char key[64];
    bool found;
    snprintf(key, sizeof key, "/v1/markets/%lld/reserves", (long long)id);
    res = svc_reply_cached(req, c, key, &found);
  }
  svc_cache_release(c);
  return res;
}

enum svc_handler_result handler_reserves_get(struct svc_request *req) {
  char chain[32], asset[128];
  int64_t id;
  if (!chain_param(req, chain, &id)) return chain_not_found(req, chain);
  const char *a = svc_req_param(req, "asset", asset, sizeof asset);
  enum svc_handler_result bad;
  if (!handler_markets_asset_ok(req, a, &bad)) return bad;
  struct svc_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  enum svc_handler_result res;
  const struct mkt_chain *m = handler_markets_chain(c, id);
  const struct mkt_reserve *r = m ? handler_markets_find_reserve(m, a) : NULL;
  uint64_t t;
  int at;
  if (!m) {
    res = chain_not_found(req, chain);
  } else if (!r) {
    res = svc_reply_problem(req, SVC_ERR_asset_not_found, "chain %lld has no reserve %.64s", (long long)id, a);
  } else if ((at = parse_at(req, m, &t)) < 0) {
    res = SVC_HANDLED;
  } else if (at > 0) {
    risk_err err = RISK_OK;
    res = reply_projection(req, single_body(m, r, t, &err), err);
  } else {
    char key[128];
    bool found;
    snprintf(key, sizeof key, "/v1/markets/%lld/reserves/%s", (long long)id, r->address);
    res = svc_reply_cached(req, c, key, &found);
    if (!found)
      res = svc_reply_problem(req, SVC_ERR_internal_error, "reserve %s could not be evaluated", r->address_cs);
  }
  svc_cache_release(c);
  return res;
}

enum svc_handler_result handler_emode_categories_list(struct svc_request *req) {
  char chain[32];
  int64_t id;
  if (!chain_param(req, chain, &id)) return chain_not_found(req, chain);
  struct svc_cache *c = cache_or_503(req);
  if (!c) return SVC_HANDLED;
  char key[64];
  bool found;
  snprintf(key, sizeof key, "/v1/markets/%lld/emode-categories", (long long)id);
  enum svc_handler_result res = svc_reply_cached(req, c, key, &found);
  if (!found) res = chain_not_found(req, chain);
  svc_cache_release(c);
  return res;
}

/* JSON of the ops risk routes (views/risk_json.h). */
#include "views/risk_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/hex.h"
#include "util/time.h"
#include "views/account_json.h"
#include "views/json.h"

static void as_of(struct jw *w, const struct state_acc_view *v) {
  jw_key(w, "as_of");
  jw_obj(w);
  view_write_as_of_fields(w, v->mc);
  jw_obj_end(w);
}

static void asset_head(struct jw *w, const struct state_acc_view *v, uint16_t id, bool decimals) {
  const struct state_reserve *r = v->res[id];
  jw_kstr(w, "asset", r ? r->address_cs : "");
  jw_kstr(w, "symbol", r ? r->symbol : "");
  if (decimals) jw_kint(w, "decimals", r ? (int64_t)r->decimals : 0);
}

static void base(struct jw *w, const char *name, u256 v) {
  char k[96], kf[96];
  size_t n = strlen(name);
  snprintf(k, sizeof k, "%s_base", name);
  snprintf(kf, sizeof kf, "%.*s_usd", (int)n, name);
  jw_ku256_kfixed(w, k, kf, v, 8);
}

/* A decimal string of v / 10^dec without trailing zeros ("0.025", "1", "0"). */
static void jw_trim_fixed(struct jw *w, u256 v, unsigned dec) {
  char f[U256_DEC_MAX + 2];
  size_t n = u256_to_fixed(v, dec, f);
  if (dec) {
    while (n > 0 && f[n - 1] == '0')
      n--;
    if (n > 0 && f[n - 1] == '.') n--;
  }
  jw_plain(w, f, n);
}

/* A JSON number of d (finite; 0 otherwise). */
static void jw_double(struct jw *w, double d) {
  char b[40];
  int n = snprintf(b, sizeof b, "%.10g", isfinite(d) ? d : 0.0);
  if (!strchr(b, '.') && !strchr(b, 'e') && n < 38) b[n++] = '.', b[n++] = '0', b[n] = 0;
  jw_sep(w);
  jw_raw(w, b, (size_t)n);
}

static u256 round_ld(long double x) {
  if (!(x > 0)) return U256_ZERO;
  if (x < 18446744073709551615.0L) return u256_from_u64((uint64_t)llroundl(x));
  u256 r = U256_ZERO;
  /* beyond 64 bits: the statistic is an estimate, keep its leading digits */
  long double hi = floorl(x / 18446744073709551616.0L);
  r.w[1] = (uint64_t)hi;
  r.w[0] = (uint64_t)(x - hi * 18446744073709551616.0L);
  return r;
}

/* ---- liquidations at risk ---- */

void view_risk_lar(struct jw *w, const struct state_acc_view *v, size_t accounts, const struct view_risk_curve *c,
                   size_t n) {
  jw_obj(w);
  as_of(w, v);
  jw_kint(w, "accounts_evaluated", (int64_t)accounts);
  jw_key(w, "curves");
  jw_arr(w);
  for (size_t i = 0; i < n; i++) {
    jw_obj(w);
    jw_kstr(w, "label", c[i].label);
    jw_key(w, "assets");
    jw_arr(w);
    for (size_t a = 0; a < c[i].n_assets; a++)
      jw_str(w, v->res[c[i].assets[a]] ? v->res[c[i].assets[a]]->symbol : "");
    jw_arr_end(w);
    jw_key(w, "points");
    jw_arr(w);
    for (size_t g = 0; g < c[i].n_points; g++) {
      const struct risk_lar_point *p = &c[i].points[g];
      jw_obj(w);
      jw_key(w, "drop");
      jw_trim_fixed(w, u256_from_u64(p->drop_bps), 4);
      jw_kint(w, "drop_bps", p->drop_bps);
      jw_kint(w, "accounts_liquidatable", (int64_t)p->accounts);
      base(w, "debt_at_risk", p->debt_at_risk_base);
      base(w, "collateral_seized", p->collateral_seized_base);
      base(w, "debt_repaid", p->debt_repaid_base);
      base(w, "protocol_fee", p->protocol_fee_base);
      jw_key(w, "reserves");
      jw_arr(w);
      for (uint32_t r = 0; r < v->m.n_reserves; r++) {
        const struct risk_liq_totals *t = &p->res[r];
        if (!v->res[r] || (u256_is_zero(t->collateral_seized) && u256_is_zero(t->debt_repaid))) continue;
        jw_obj(w);
        asset_head(w, v, (uint16_t)r, true);
        jw_ku256(w, "collateral_seized", t->collateral_seized);
        base(w, "collateral_seized", t->collateral_seized_base);
        jw_ku256(w, "debt_repaid", t->debt_repaid);
        base(w, "debt_repaid", t->debt_repaid_base);
        jw_ku256(w, "protocol_fee", t->protocol_fee);
        base(w, "protocol_fee", t->protocol_fee_base);
        jw_obj_end(w);
      }
      jw_arr_end(w);
      jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_obj_end(w);
}

/* ---- waterfall ---- */

void view_risk_wf_config(struct jw *w, const struct view_risk_wf *wf) {
  jw_obj(w);
  jw_key(w, "layers");
  jw_arr(w);
  for (size_t l = 0; l < wf->n_layers; l++) {
    jw_obj(w);
    jw_kint(w, "position", (int64_t)l + 1);
    jw_kstr(w, "name", wf->name[l]);
    jw_kbool(w, "residual", wf->residual[l]);
    jw_key(w, "holders");
    jw_arr(w);
    for (size_t h = 0; h < wf->layers[l].n_holders; h++) {
      jw_obj(w);
      jw_kstr(w, "name", wf->holder[l][h]);
      jw_ku256(w, "capacity_base", wf->layers[l].holders[h].capacity);
      jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  if (wf->updated_at[0])
    jw_kstr(w, "updated_at", wf->updated_at);
  else
    jw_knull(w, "updated_at");
  jw_obj_end(w);
}

static void wf_result(struct jw *w, const struct view_risk_wf *wf, u256 loss, u256 unabsorbed) {
  jw_obj(w);
  base(w, "loss", loss);
  jw_key(w, "layers");
  jw_arr(w);
  u256 haircut = U256_ZERO, haircut_cap = U256_ZERO;
  for (size_t l = 0; l < wf->n_layers; l++) {
    const struct risk_wf_layer *L = &wf->layers[l];
    jw_obj(w);
    jw_kint(w, "position", (int64_t)l + 1);
    jw_kstr(w, "name", wf->name[l]);
    jw_kbool(w, "residual", wf->residual[l]);
    base(w, "capacity", L->capacity);
    base(w, "absorbed", L->absorbed);
    jw_kbool(w, "exhausted", L->exhausted);
    jw_key(w, "holders");
    jw_arr(w);
    for (size_t h = 0; h < L->n_holders; h++) {
      jw_obj(w);
      jw_kstr(w, "name", wf->holder[l][h]);
      jw_ku256(w, "capacity_base", L->holders[h].capacity);
      base(w, "absorbed", L->holders[h].absorbed);
      jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
    if (wf->residual[l]) haircut = L->absorbed, haircut_cap = L->capacity;
  }
  jw_arr_end(w);
  base(w, "usds_haircut", haircut);
  jw_key(w, "usds_haircut_fraction");
  u256 frac = U256_ZERO;
  if (!u256_is_zero(haircut_cap)) (void)u256_muldiv(&frac, haircut, u256_from_u64(1000000000000000000ull), haircut_cap);
  jw_trim_fixed(w, frac, 18);
  base(w, "unabsorbed", unabsorbed);
  jw_obj_end(w);
}

/* ---- stress ---- */

static void shocks(struct jw *w, const char *key, const struct state_acc_view *v, const struct view_risk_shock *s,
                   size_t n) {
  jw_key(w, key);
  jw_obj(w);
  for (size_t i = 0; i < n; i++) {
    const struct state_reserve *r = v->res[s[i].reserve];
    jw_kstr(w, r ? r->symbol : "?", s[i].text);
  }
  jw_obj_end(w);
}

void view_risk_stress(struct jw *w, const struct state_acc_view *base_v, const struct view_risk_shock *ps, size_t nps,
                      const struct view_risk_shock *rs, size_t nrs, long long horizon_days, uint32_t cascade_rounds,
                      const struct risk_stress_result *r, const struct view_risk_wf *wf, u256 unabsorbed) {
  jw_obj(w);
  as_of(w, base_v);
  jw_key(w, "scenario");
  jw_obj(w);
  shocks(w, "price_shocks", base_v, ps, nps);
  shocks(w, "rate_shocks", base_v, rs, nrs);
  jw_kint(w, "horizon_days", horizon_days);
  jw_kint(w, "cascade_rounds", cascade_rounds);
  jw_obj_end(w);
  jw_key(w, "reserves");
  jw_arr(w);
  for (uint32_t i = 0; i < base_v->m.n_reserves; i++) {
    if (!base_v->res[i]) continue;
    const struct risk_stress_reserve *s = &r->res[i];
    jw_obj(w);
    asset_head(w, base_v, (uint16_t)i, true);
    jw_ku256(w, "price_before_base", base_v->m.reserves[i].price);
    jw_ku256(w, "price_after_base", s->price_after);
    jw_ku256(w, "collateral_seized", s->t.collateral_seized);
    base(w, "collateral_seized", s->t.collateral_seized_base);
    jw_ku256(w, "debt_repaid", s->t.debt_repaid);
    base(w, "debt_repaid", s->t.debt_repaid_base);
    jw_ku256(w, "protocol_fee", s->t.protocol_fee);
    jw_kint(w, "slippage_bps", s->slippage_bps);
    base(w, "recovery", s->recovery_base);
    base(w, "bad_debt", s->bad_debt_base);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "rounds");
  jw_arr(w);
  for (uint32_t i = 0; i < r->n_rounds; i++) {
    jw_obj(w);
    jw_kint(w, "round", i);
    jw_kint(w, "accounts_liquidated", (int64_t)r->rounds[i].accounts);
    base(w, "collateral_seized", r->rounds[i].collateral_seized_base);
    base(w, "debt_repaid", r->rounds[i].debt_repaid_base);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "totals");
  jw_obj(w);
  jw_kint(w, "accounts_liquidated", (int64_t)r->accounts_liquidated);
  jw_kint(w, "accounts_insolvent", (int64_t)r->accounts_insolvent);
  base(w, "collateral_seized", r->collateral_seized_base);
  base(w, "debt_repaid", r->debt_repaid_base);
  base(w, "recovery", r->recovery_base);
  base(w, "bad_debt", r->bad_debt_base);
  jw_obj_end(w);
  jw_key(w, "waterfall");
  wf_result(w, wf, r->bad_debt_base, unabsorbed);
  jw_obj_end(w);
}

/* ---- VaR ---- */

static void stat(struct jw *w, const char *name, long double x) {
  char k[64];
  snprintf(k, sizeof k, "%s_base", name);
  jw_ku256(w, k, round_ld(x));
  snprintf(k, sizeof k, "%s_usd", name);
  jw_key(w, k);
  jw_double(w, (double)(x / 1e8L));
}

void view_risk_var(struct jw *w, const struct state_acc_view *v, const char *horizon, int64_t horizon_s, size_t paths,
                   uint64_t seed, const struct view_risk_var_asset *a, size_t k,
                   const double corr[RISK_VAR_MAX_ASSETS][RISK_VAR_MAX_ASSETS], const struct risk_var_model *vm,
                   const struct risk_var_result *r) {
  jw_obj(w);
  as_of(w, v);
  jw_kbool(w, "estimate", true);
  jw_kstr(w, "model", "gbm_gap");
  jw_kstr(w, "horizon", horizon);
  jw_kint(w, "horizon_seconds", horizon_s);
  jw_kint(w, "paths", (int64_t)paths);
  jw_ku256(w, "seed", u256_from_u64(seed));
  jw_key(w, "assets");
  jw_arr(w);
  for (size_t i = 0; i < k; i++) {
    jw_obj(w);
    asset_head(w, v, a[i].reserve, false);
    jw_key(w, "volatility_annual");
    jw_double(w, a[i].sigma);
    jw_kstr(w, "source", a[i].source);
    jw_kint(w, "samples", (int64_t)a[i].samples);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "correlation");
  jw_arr(w);
  for (size_t i = 0; i < k; i++) {
    jw_arr(w);
    for (size_t j = 0; j < k; j++)
      jw_double(w, i == j ? 1.0 : corr[i][j]);
    jw_arr_end(w);
  }
  jw_arr_end(w);
  base(w, "deterministic_loss", vm->deterministic_loss);
  stat(w, "mean_loss", r->mean);
  jw_key(w, "levels");
  jw_arr(w);
  for (int q = 0; q < 2; q++) {
    jw_obj(w);
    jw_kstr(w, "confidence", q ? "0.99" : "0.95");
    stat(w, "var", q ? r->var99 : r->var95);
    stat(w, "es", q ? r->es99 : r->es95);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  stat(w, "max_loss", r->max);
  jw_kint(w, "accounts_in_pairs", (int64_t)vm->n_pair_accounts);
  jw_kint(w, "accounts_general", (int64_t)vm->n_general);
  jw_obj_end(w);
}

/* ---- concentration ---- */

/* share = floor(a * 10000 / total) as "0.xxxx" ("0" for an empty total). */
static void share4(struct jw *w, u256 a, u256 total) {
  u256 s = U256_ZERO;
  if (u256_is_zero(total)) {
    jw_plain(w, "0", 1);
    return;
  }
  (void)u256_muldiv(&s, a, u256_from_u64(10000), total);
  jw_fixed(w, s, 4);
}

static void side(struct jw *w, const struct state_acc_chain *x, const struct risk_conc_side *s) {
  jw_obj(w);
  jw_ku256(w, "total", s->total);
  jw_kint(w, "holders", (int64_t)s->holders);
  u256 top = U256_ZERO;
  for (uint32_t i = 0; i < s->n_top; i++)
    top = u256_add_wrap(top, s->top_amount[i]);
  jw_key(w, "top_share");
  share4(w, top, s->total);
  jw_key(w, "hhi");
  if (u256_is_zero(s->total)) {
    jw_plain(w, "0", 1);
  } else {
    double h = floor(risk_conc_hhi(s) * 10000.0 + 1e-9);
    jw_fixed(w, u256_from_u64(h > 10000 ? 10000 : (uint64_t)h), 4);
  }
  jw_key(w, "top_accounts");
  jw_arr(w);
  for (uint32_t i = 0; i < s->n_top; i++) {
    char hex[43], cs[43];
    util_hex0x(x->accounts[s->top[i]].addr, 20, hex);
    view_address_checksum(hex, cs);
    jw_obj(w);
    jw_kstr(w, "address", cs);
    jw_ku256(w, "amount", s->top_amount[i]);
    jw_key(w, "share");
    share4(w, s->top_amount[i], s->total);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_obj_end(w);
}

void view_risk_concentration(struct jw *w, const struct state_acc_view *v, const struct state_acc_chain *x,
                             uint32_t top, const struct risk_conc_result *r) {
  jw_obj(w);
  as_of(w, v);
  jw_kint(w, "top", top);
  jw_key(w, "reserves");
  jw_arr(w);
  for (uint32_t i = 0; i < v->m.n_reserves; i++) {
    if (!v->res[i]) continue;
    jw_obj(w);
    asset_head(w, v, (uint16_t)i, true);
    jw_key(w, "supply");
    side(w, x, &r->res[i].supply);
    jw_key(w, "debt");
    side(w, x, &r->res[i].debt);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "collateral");
  jw_arr(w);
  for (uint32_t i = 0; i < v->m.n_reserves; i++) {
    if (!v->res[i] || u256_is_zero(r->res[i].collateral_base)) continue;
    jw_obj(w);
    asset_head(w, v, (uint16_t)i, false);
    base(w, "collateral", r->res[i].collateral_base);
    base(w, "debt_backed", r->res[i].debt_backed_base);
    jw_key(w, "share_of_debt");
    share4(w, r->res[i].debt_backed_base, r->total_debt_base);
    jw_obj_end(w);
  }
  jw_arr_end(w);
  base(w, "total_debt", r->total_debt_base);
  jw_obj_end(w);
}

/* ---- oracles ---- */

/* Splits a signed decimal integer into sign and magnitude; false when it is not one. */
static bool signed_dec(const char *s, bool *neg, u256 *mag) {
  *neg = s[0] == '-';
  return u256_parse_dec(s + (*neg ? 1 : 0), mag);
}

/* Writes the signed value neg/mag with `dec` decimals, trailing zeros trimmed. */
static void jw_signed_ratio(struct jw *w, bool neg, u256 mag, unsigned dec) {
  char f[U256_DEC_MAX + 4];
  size_t n = u256_to_fixed(mag, dec, f + 1);
  char *p = f + 1;
  if (dec) {
    while (n > 0 && p[n - 1] == '0')
      n--;
    if (n > 0 && p[n - 1] == '.') n--;
  }
  if (neg && !u256_is_zero(mag)) *--p = '-', n++;
  jw_plain(w, p, n);
}

void view_risk_oracles(struct jw *w, const struct state_acc_view *v, const struct view_risk_price *prices, int64_t now,
                       unsigned stale_s, const struct view_risk_ks *ks) {
  char t[32];
  jw_obj(w);
  as_of(w, v);
  jw_kstr(w, "now", util_time_rfc3339(now, t));
  jw_kint(w, "stale_after_seconds", stale_s);
  jw_key(w, "assets");
  jw_arr(w);
  for (uint32_t i = 0; i < v->m.n_reserves; i++) {
    const struct state_reserve *r = v->res[i];
    if (!r) continue;
    jw_obj(w);
    asset_head(w, v, (uint16_t)i, false);
    if (r->has_price) {
      jw_ku256_kfixed(w, "price_base", "price_usd", r->price, 8);
    } else {
      jw_knull(w, "price_base");
      jw_knull(w, "price_usd");
    }
    const struct view_risk_price *p = &prices[i];
    if (p->found) {
      char cs[43];
      view_address_checksum(p->source, cs);
      jw_kstr(w, "source", cs);
      jw_kstr(w, "updated_at", util_time_rfc3339(p->updated_at, t));
      jw_kint(w, "updated_at_unix", p->updated_at);
      int64_t age = now - p->updated_at, age_b = v->mc->block_timestamp - p->updated_at;
      jw_kint(w, "age_seconds", age);
      jw_kint(w, "age_at_block_seconds", age_b);
      jw_kbool(w, "stale", age > (int64_t)stale_s);
      jw_kbool(w, "stale_at_block", age_b > (int64_t)stale_s);
    } else {
      jw_knull(w, "source");
      jw_knull(w, "updated_at");
      jw_knull(w, "updated_at_unix");
      jw_knull(w, "age_seconds");
      jw_knull(w, "age_at_block_seconds");
      jw_kbool(w, "stale", true);
      jw_kbool(w, "stale_at_block", true);
    }
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_key(w, "kill_switch");
  jw_obj(w);
  jw_kbool(w, "known", ks->known);
  if (ks->known) {
    char cs[43];
    view_address_checksum(ks->address, cs);
    jw_kstr(w, "address", cs);
    jw_kbool(w, "triggered", ks->triggered);
    jw_kint(w, "block_number", ks->block_number);
  } else {
    jw_knull(w, "address");
    jw_knull(w, "triggered");
    jw_knull(w, "block_number");
  }
  /* lockdown stops new borrows everywhere: what it froze is every reserve whose borrowing is off */
  jw_key(w, "froze");
  jw_arr(w);
  if (ks->known && ks->triggered)
    for (uint32_t i = 0; i < v->m.n_reserves; i++) {
      if (!v->res[i] || v->m.reserves[i].borrowing_enabled) continue;
      jw_obj(w);
      asset_head(w, v, (uint16_t)i, false);
      jw_obj_end(w);
    }
  jw_arr_end(w);
  jw_key(w, "oracles");
  jw_arr(w);
  for (size_t i = 0; ks->known && i < ks->n; i++) {
    const struct view_risk_ks_oracle *o = &ks->o[i];
    bool tn, ln;
    u256 tm, lm;
    if (!signed_dec(o->threshold, &tn, &tm) || !signed_dec(o->latest, &ln, &lm)) continue;
    char cs[43];
    view_address_checksum(o->address, cs);
    jw_obj(w);
    jw_kstr(w, "address", cs);
    jw_kstr(w, "label", o->label);
    jw_kint(w, "decimals", o->decimals);
    jw_kstr(w, "threshold", o->threshold);
    jw_kstr(w, "latest_answer", o->latest);
    unsigned dec = (unsigned)o->decimals;
    jw_key(w, "threshold_ratio");
    jw_signed_ratio(w, tn, tm, dec);
    jw_key(w, "ratio");
    jw_signed_ratio(w, ln, lm, dec);
    /* distance = latest - threshold, signed */
    bool dn;
    u256 dm;
    if (ln == tn) {
      bool bigger = u256_ge(lm, tm);
      dm = bigger ? u256_sub_wrap(lm, tm) : u256_sub_wrap(tm, lm);
      dn = ln ? bigger : !bigger;
    } else {
      dm = u256_add_wrap(lm, tm);
      dn = ln;
    }
    jw_key(w, "distance");
    jw_signed_ratio(w, dn, dm, dec);
    jw_kbool(w, "at_or_below", dn || u256_is_zero(dm));
    jw_obj_end(w);
  }
  jw_arr_end(w);
  jw_obj_end(w);
  jw_obj_end(w);
}

/* Portfolio margin, its bands and the collateral-yield rate; conventions in risk/margin.h. */
#include "risk/margin.h"

#include <string.h>

#include "risk/keccak.h"
#include "risk/ltv.h"

typedef __int128 i128;
typedef unsigned __int128 u128;

static const char *const band_names[] = {"free", "warning", "margin_call", "liquidation", "stale"};

/* Order matters: the worst scenario is the first reaching the maximum, falls before rises. */
const int risk_margin_scenario_thirds[RISK_MARGIN_SCENARIOS] = {0, -1, 1, -2, 2, -3, 3, -6, 6};

const char *risk_margin_band_name(enum risk_margin_band b) {
  if ((unsigned)b < sizeof band_names / sizeof band_names[0]) return band_names[b];
  return "unknown";
}

int risk_margin_band_parse(const char *s) {
  for (int i = 0; i < (int)(sizeof band_names / sizeof band_names[0]); i++)
    if (strcmp(s, band_names[i]) == 0) return i;
  return -1;
}

const char *risk_margin_params_check(const struct risk_margin_params *p) {
  if (p->n_underlyings > RISK_MARGIN_MAX_UNDERLYINGS) return "underlyings";
  if (p->n_venues < 1 || p->n_venues > RISK_MARGIN_MAX_VENUES) return "venues";
  for (size_t k = 0; k < p->n_underlyings; k++) {
    const struct risk_margin_underlying *u = &p->underlyings[k];
    /* a fall of 2S must leave a price: S < 50% */
    if (u->range_bps < 1 || u->range_bps >= 5000) return "underlyings.range_bps";
    if (u->basis_bps > 10000) return "underlyings.basis_bps";
    if (u->spread_bps > 10000) return "underlyings.spread_bps";
    if (u->sigma_bps > 10000) return "underlyings.sigma_bps";
    if (u->adv < 1 || u->adv > RISK_MARGIN_MAX_ABS) return "underlyings.adv";
    if (u->horizon_days < 1 || u->horizon_days > 365) return "underlyings.horizon_days";
  }
  for (size_t v = 0; v < p->n_venues; v++) {
    if (p->venues[v].charge_bps > 10000) return "venues.charge_bps";
    if (p->venues[v].max_staleness_s < 1) return "venues.max_staleness_seconds";
  }
  for (size_t k = 0; k < p->n_underlyings; k++)
    for (size_t l = 0; l < p->n_underlyings; l++) {
      int32_t r = p->rho_bps[k][l];
      if (r < -10000 || r > 10000 || r != p->rho_bps[l][k] || (k == l && r != 10000)) return "correlations";
    }
  if (p->tail_weight_bps > 10000) return "tail_weight_bps";
  if (p->gamma_bps > 10000) return "gamma_bps";
  if (p->lambda_bps > 10000) return "lambda_bps";
  if (p->md_net_bps > 10000) return "hedge_floor_net_bps";
  if (p->md_hedged_bps > 10000) return "hedge_floor_hedged_bps";
  if (p->impact_y_bps > 100000) return "impact_y_bps";
  if (p->participation_bps < 1 || p->participation_bps > 10000) return "participation_bps";
  if (p->im_mult_bps < 10000 || p->im_mult_bps > 100000) return "im_multiplier_bps";
  if (p->liquidation_bps < 0 || p->liquidation_bps > 1000000) return "bands.liquidation_bps";
  if (p->margin_call_bps <= p->liquidation_bps || p->margin_call_bps > 1000000) return "bands.margin_call_bps";
  if (p->warning_bps <= p->margin_call_bps || p->warning_bps > 1000000) return "bands.warning_bps";
  if (p->return_to_bps <= p->margin_call_bps || p->return_to_bps > 1000000) return "bands.return_to_bps";
  if (p->hs_initial_bps < p->margin_call_bps || p->hs_initial_bps > 1000000) return "bands.initial_bps";
  if (p->cure_period_s > 31536000u) return "bands.cure_period_seconds";
  if (p->max_price_staleness_s < 1) return "max_price_staleness_seconds";
  return NULL;
}

/* floor(a / b) for b > 0 */
static i128 fdiv(i128 a, i128 b) {
  i128 q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
/* ceil(a / b) for b > 0 */
static i128 cdiv(i128 a, i128 b) {
  i128 q = a / b;
  return (a % b != 0 && a > 0) ? q + 1 : q;
}

static bool in_range(i128 v) { return v >= -(i128)RISK_MARGIN_MAX_ABS && v <= (i128)RISK_MARGIN_MAX_ABS; }

/* ceil(sqrt(x)) for x >= 0 */
static u128 isqrt_up(u128 x) {
  if (x < 2) return x;
  u128 r = 0, bit = (u128)1 << 126;
  u128 n = x;
  while (bit > n)
    bit >>= 2;
  while (bit) {
    if (n >= r + bit) {
      n -= r + bit;
      r = (r >> 1) + bit;
    } else
      r >>= 1;
    bit >>= 2;
  }
  return r * r == x ? r : r + 1;
}

/* floor(sqrt(x)) */
static u128 isqrt_down(u128 x) {
  u128 r = isqrt_up(x);
  return r * r > x ? r - 1 : r;
}

/* The value of a leg, usd8, at a price of (price * num / den) for its underlying (perps move their
 * mark by the same factor). Floor for assets, so a shocked value is never over-stated. */
static i128 leg_value_at(const struct risk_margin_leg *l, int64_t price, i128 num, i128 den) {
  if (l->underlying == RISK_MARGIN_CASH) return l->kind == RISK_MARGIN_DEBT ? -(i128)l->qty : (i128)l->qty;
  switch (l->kind) {
  case RISK_MARGIN_SPOT: return fdiv((i128)l->qty * price * num, den * RISK_MARGIN_E8);
  case RISK_MARGIN_DEBT: return -cdiv((i128)l->qty * price * num, den * RISK_MARGIN_E8);
  default: /* perp: q * (mark' - entry) + funding */
    return fdiv((i128)l->qty * ((i128)l->mark * num - (i128)l->entry * den), den * RISK_MARGIN_E8) + l->funding;
  }
}

int64_t risk_margin_leg_value(const struct risk_margin_leg *l, int64_t price) {
  return (int64_t)leg_value_at(l, price, 1, 1);
}

/* The leg's delta (usd8 exposure to its underlying), signed. */
static i128 leg_delta(const struct risk_margin_leg *l, int64_t price) {
  if (l->underlying == RISK_MARGIN_CASH) return 0;
  switch (l->kind) {
  case RISK_MARGIN_SPOT: return fdiv((i128)l->qty * price, RISK_MARGIN_E8);
  case RISK_MARGIN_DEBT: return -fdiv((i128)l->qty * price, RISK_MARGIN_E8);
  default: return fdiv((i128)l->qty * l->mark, RISK_MARGIN_E8);
  }
}

static bool leg_ok(const struct risk_margin_leg *l, const struct risk_margin_params *p) {
  if (l->kind > RISK_MARGIN_DEBT || l->yield_kind > RISK_YIELD_FIXED) return false;
  if (l->venue >= p->n_venues) return false;
  if (l->underlying != RISK_MARGIN_CASH && l->underlying >= p->n_underlyings) return false;
  if (l->kind == RISK_MARGIN_PERP && l->underlying == RISK_MARGIN_CASH) return false;
  if (l->qty < -RISK_MARGIN_MAX_ABS || l->qty > RISK_MARGIN_MAX_ABS) return false;
  if (l->kind != RISK_MARGIN_PERP && l->qty < 0) return false;
  if (l->kind == RISK_MARGIN_PERP &&
      (l->entry < 0 || l->entry > RISK_MARGIN_MAX_ABS || l->mark < 1 || l->mark > RISK_MARGIN_MAX_ABS ||
       l->funding < -RISK_MARGIN_MAX_ABS || l->funding > RISK_MARGIN_MAX_ABS))
    return false;
  return true;
}

static bool stale_ts(uint64_t ts, uint64_t now, uint64_t bound) {
  return ts > now ? ts - now > RISK_MARGIN_FUTURE_SKEW_S : now - ts > bound;
}

static enum risk_margin_band classify(const struct risk_margin_params *p, const struct risk_margin_prev *prev,
                                      int64_t h, bool stale, uint64_t now, uint64_t *call_since) {
  uint64_t since = prev ? prev->call_since : 0;
  if (stale) {
    *call_since = since;
    return RISK_MARGIN_STALE;
  }
  enum risk_margin_band b;
  if (h < p->margin_call_bps) {
    b = h < p->liquidation_bps ? RISK_MARGIN_LIQUIDATION : RISK_MARGIN_CALL;
    if (!since) since = now;
  } else if (since && h < p->return_to_bps) {
    b = RISK_MARGIN_CALL;
  } else {
    b = h < p->warning_bps ? RISK_MARGIN_WARNING : RISK_MARGIN_FREE;
    since = 0;
  }
  if (b == RISK_MARGIN_CALL && since && now >= since + p->cure_period_s) b = RISK_MARGIN_LIQUIDATION;
  *call_since = since;
  return b;
}

#define ADD_CHECKED(acc, v)                                                                                            \
  do {                                                                                                                 \
    (acc) += (v);                                                                                                      \
    if (!in_range(acc)) return RISK_OVERFLOW;                                                                          \
  } while (0)

risk_err risk_margin_compute(struct risk_margin_result *out, const struct risk_margin_leg *legs, size_t n,
                             const int64_t *prices, const uint64_t *prices_ts, const struct risk_margin_params *p,
                             const struct risk_margin_prev *prev, uint64_t now) {
  if (n > RISK_MARGIN_MAX_LEGS || risk_margin_params_check(p)) return RISK_INVALID;
  memset(out, 0, sizeof *out);
  const size_t nu = p->n_underlyings;
  for (size_t k = 0; k < nu; k++)
    if (prices[k] < 1 || prices[k] > RISK_MARGIN_MAX_ABS) return RISK_INVALID;
  bool used[RISK_MARGIN_MAX_UNDERLYINGS] = {0};
  i128 equity = 0, assets = 0, liab = 0;
  i128 vassets[RISK_MARGIN_MAX_VENUES] = {0};
  i128 lng[RISK_MARGIN_MAX_UNDERLYINGS] = {0}, sht[RISK_MARGIN_MAX_UNDERLYINGS] = {0};
  i128 loss[RISK_MARGIN_MAX_UNDERLYINGS][RISK_MARGIN_SCENARIOS] = {{0}};
  uint64_t oldest = UINT64_MAX;
  bool stale = false;

  for (size_t i = 0; i < n; i++) {
    const struct risk_margin_leg *l = &legs[i];
    if (!leg_ok(l, p)) return RISK_INVALID;
    int64_t price = l->underlying == RISK_MARGIN_CASH ? RISK_MARGIN_E8 : prices[l->underlying];
    /* |q * price| within 2^60 USD-units keeps every revaluation product below 2^105 */
    i128 aq = l->qty < 0 ? -(i128)l->qty : l->qty, lim = (i128)RISK_MARGIN_MAX_ABS * RISK_MARGIN_E8;
    if (l->kind == RISK_MARGIN_PERP ? (aq * l->mark > lim || aq * l->entry > lim) : aq * price > lim)
      return RISK_INVALID;
    i128 v = leg_value_at(l, price, 1, 1);
    if (!in_range(v)) return RISK_INVALID;
    ADD_CHECKED(equity, v);
    if (v > 0) {
      ADD_CHECKED(assets, v);
      ADD_CHECKED(vassets[l->venue], v);
    } else
      ADD_CHECKED(liab, -v);
    if (l->as_of < oldest) oldest = l->as_of;
    if (stale_ts(l->as_of, now, p->venues[l->venue].max_staleness_s)) stale = true;
    if (l->underlying == RISK_MARGIN_CASH) continue;
    size_t k = l->underlying;
    used[k] = true;
    i128 d = leg_delta(l, price);
    if (d > 0)
      ADD_CHECKED(lng[k], d);
    else
      ADD_CHECKED(sht[k], -d);
    /* full revaluation on the grid: price * (3*10000 + m*S) / (3*10000) */
    for (int s = 0; s < RISK_MARGIN_SCENARIOS; s++) {
      i128 num = 30000 + (i128)risk_margin_scenario_thirds[s] * p->underlyings[k].range_bps;
      i128 shocked = leg_value_at(l, price, num, 30000);
      loss[k][s] += v - shocked;
    }
  }
  for (size_t k = 0; k < nu; k++)
    if (used[k]) {
      if (prices_ts[k] < oldest) oldest = prices_ts[k];
      if (stale_ts(prices_ts[k], now, p->max_price_staleness_s)) stale = true;
    }

  /* per underlying: L_k, basis, hedge floor, liquidity */
  i128 lsum = 0, lmax = 0, basis = 0, md = 0, lc = 0;
  i128 ldir[RISK_MARGIN_MAX_UNDERLYINGS] = {0};
  for (size_t k = 0; k < nu; k++) {
    struct risk_margin_factor *f = &out->factors[k];
    const struct risk_margin_underlying *u = &p->underlyings[k];
    f->worst = -1;
    i128 lk = 0;
    for (int s = 0; s < RISK_MARGIN_SCENARIOS; s++) {
      if (!in_range(loss[k][s])) return RISK_OVERFLOW;
      f->loss[s] = (int64_t)loss[k][s];
      int m = risk_margin_scenario_thirds[s];
      i128 w = (m == 6 || m == -6) ? p->tail_weight_bps : 10000;
      i128 wl = cdiv(loss[k][s] * w, 10000);
      if (wl > lk) {
        lk = wl;
        f->worst = s;
        f->direction = m < 0 ? 1 : -1;
      }
    }
    i128 D = lng[k] - sht[k], aD = D < 0 ? -D : D;
    i128 H = lng[k] < sht[k] ? lng[k] : sht[k];
    f->net_delta = (int64_t)D;
    f->long_notional = (int64_t)lng[k];
    f->short_notional = (int64_t)sht[k];
    f->hedged = (int64_t)H;
    f->weighted_loss = (int64_t)lk;
    ldir[k] = lk * f->direction;
    lsum += lk;
    if (lk > lmax) lmax = lk;
    f->basis = (int64_t)cdiv(H * u->basis_bps, 10000);
    f->hedge_floor = (int64_t)cdiv(aD * p->md_net_bps + H * p->md_hedged_bps, 10000);
    if (aD > 0) {
      /* capacity = ADV * part * horizon; impact (bps, scaled 1e8) = Y * sigma * sqrt(|D| / capacity) */
      i128 cap = cdiv((i128)u->adv * p->participation_bps, 10000) * u->horizon_days;
      if (cap < 1) cap = 1;
      i128 ratio_e16 = aD * (i128)10000000000000000LL / cap; /* |D| < 2^61, * 1e16 < 2^115 */
      i128 sqrt_e8 = (i128)isqrt_down((u128)ratio_e16);
      i128 cost_e8 =
          (i128)u->spread_bps * RISK_MARGIN_E8 / 2 +
          (i128)p->impact_y_bps * u->sigma_bps * (sqrt_e8 < ((i128)1 << 60) ? sqrt_e8 : ((i128)1 << 60)) / 10000;
      if (cost_e8 > (i128)10000 * RISK_MARGIN_E8) cost_e8 = (i128)10000 * RISK_MARGIN_E8; /* at most 100% */
      f->liquidity = (int64_t)cdiv(aD * cost_e8, (i128)10000 * RISK_MARGIN_E8);
    }
    basis += f->basis;
    md += f->hedge_floor;
    lc += f->liquidity;
  }

  if (!in_range(lsum)) return RISK_OVERFLOW;
  /* diversification: sum_kl rho * d_k L_k * d_l L_l / 10000, each term exact-floored; |sum_kl rho L_k L_l| <= (sum_k
   * L_k)^2 <= 2^120 */
  i128 q = 0;
  for (size_t k = 0; k < nu; k++)
    for (size_t l = 0; l < nu; l++) {
      if (!ldir[k] || !ldir[l] || !p->rho_bps[k][l]) continue;
      i128 prod = ldir[k] * ldir[l];
      i128 rho = p->rho_bps[k][l];
      q += fdiv(prod, 10000) * rho + fdiv((prod - fdiv(prod, 10000) * 10000) * rho, 10000);
    }
  i128 ldiv = q > 0 ? (i128)isqrt_up((u128)q) : 0;
  i128 lport = ldiv;
  i128 g = cdiv(lmax * p->gamma_bps, 10000);
  if (g > lport) lport = g;
  i128 bl = cdiv(lsum * p->lambda_bps + ldiv * (10000 - (i128)p->lambda_bps), 10000);
  if (bl > lport) lport = bl;

  i128 vc = 0;
  for (size_t v = 0; v < p->n_venues; v++) {
    out->venue_assets[v] = (int64_t)vassets[v];
    out->venue_charges[v] = (int64_t)cdiv(vassets[v] * p->venues[v].charge_bps, 10000);
    vc += out->venue_charges[v];
  }
  i128 mm = lport + basis + md + lc + vc;
  if (!in_range(mm) || !in_range(lsum)) return RISK_OVERFLOW;
  i128 im = cdiv(mm * p->im_mult_bps, 10000);

  out->assets = (int64_t)assets;
  out->liabilities = (int64_t)liab;
  out->equity = (int64_t)equity;
  out->loss_sum = (int64_t)lsum;
  out->loss_max = (int64_t)lmax;
  out->loss_div = (int64_t)ldiv;
  out->loss_port = (int64_t)lport;
  out->basis = (int64_t)basis;
  out->hedge_floor = (int64_t)md;
  out->liquidity = (int64_t)lc;
  out->venue = (int64_t)vc;
  out->mm = (int64_t)mm;
  out->im = (int64_t)im;
  if (mm == 0) {
    out->hs_bps = equity >= 0 ? RISK_MARGIN_HS_INFINITE : -RISK_MARGIN_HS_INFINITE;
    out->d_max = equity > 0 ? (int64_t)equity : 0;
  } else {
    out->hs_bps = (int64_t)fdiv(equity * 10000, mm);
    i128 dm = equity - cdiv((i128)p->hs_initial_bps * mm, 10000);
    out->d_max = dm > 0 ? (int64_t)dm : 0;
  }
  out->stale = stale;
  out->oldest_ts = oldest == UINT64_MAX ? now : oldest;
  out->band = classify(p, prev, out->hs_bps, stale, now, &out->call_since);
  out->cure_deadline = out->call_since ? out->call_since + p->cure_period_s : 0;
  return RISK_OK;
}

/* ---- §5.3 collateral-yield rate ---- */

/* Returns whether the portfolio with a borrow of d (see risk_margin_max_borrow) keeps HS at or above
 * hs_initial; *e gets the engine's error. tmp holds n + 2 legs. */
static bool borrow_ok(int64_t d, struct risk_margin_leg *tmp, size_t n, const int64_t *prices,
                      const uint64_t *prices_ts, const struct risk_margin_params *p, uint16_t buy_venue,
                      uint16_t underlying, uint16_t debt_venue, uint64_t now, risk_err *e) {
  int64_t price = underlying == RISK_MARGIN_CASH ? RISK_MARGIN_E8 : prices[underlying];
  tmp[n] = (struct risk_margin_leg){
      .kind = RISK_MARGIN_DEBT, .venue = debt_venue, .underlying = RISK_MARGIN_CASH, .qty = d, .as_of = now};
  tmp[n + 1] = (struct risk_margin_leg){.kind = RISK_MARGIN_SPOT,
                                        .venue = buy_venue,
                                        .underlying = underlying,
                                        .qty = (int64_t)((i128)d * RISK_MARGIN_E8 / price),
                                        .as_of = now};
  struct risk_margin_result r;
  *e = risk_margin_compute(&r, tmp, n + 2, prices, prices_ts, p, NULL, now);
  return *e == RISK_OK && r.hs_bps >= p->hs_initial_bps;
}

risk_err risk_margin_max_borrow(int64_t *d_max, const struct risk_margin_leg *legs, size_t n, const int64_t *prices,
                                const uint64_t *prices_ts, const struct risk_margin_params *p, uint16_t buy_venue,
                                uint16_t underlying, uint16_t debt_venue, uint64_t now) {
  *d_max = 0;
  if (n + 2 > RISK_MARGIN_MAX_LEGS || buy_venue >= p->n_venues || debt_venue >= p->n_venues ||
      (underlying != RISK_MARGIN_CASH && underlying >= p->n_underlyings))
    return RISK_INVALID;
  struct risk_margin_leg tmp[RISK_MARGIN_MAX_LEGS];
  memcpy(tmp, legs, n * sizeof *legs);
  risk_err e;
  if (!borrow_ok(0, tmp, n, prices, prices_ts, p, buy_venue, underlying, debt_venue, now, &e))
    return e == RISK_OK ? RISK_OK : e;
  /* double until a borrow fails (an engine error past the domain counts as failing), then bisect
   * between the last that passed (lo) and it (hi) */
  const int64_t cap = RISK_MARGIN_MAX_ABS / 4;
  int64_t lo = 0, hi = RISK_MARGIN_E8;
  for (;;) {
    if (!borrow_ok(hi, tmp, n, prices, prices_ts, p, buy_venue, underlying, debt_venue, now, &e)) break;
    lo = hi;
    if (hi == cap) {
      *d_max = cap;
      return RISK_OK;
    }
    hi = hi > cap / 2 ? cap : hi * 2;
  }
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    if (borrow_ok(mid, tmp, n, prices, prices_ts, p, buy_venue, underlying, debt_venue, now, &e))
      lo = mid;
    else
      hi = mid;
  }
  *d_max = lo;
  return RISK_OK;
}

const char *risk_margin_rate_params_check(const struct risk_margin_rate_params *rp) {
  if (rp->clamp_lo_bps < -100000 || rp->clamp_lo_bps > 100000) return "clamp_lo_bps";
  if (rp->clamp_hi_bps < rp->clamp_lo_bps || rp->clamp_hi_bps > 100000) return "clamp_hi_bps";
  if (rp->util_kink_bps < 0 || rp->util_kink_bps > 10000) return "util_kink_bps";
  if (rp->util_max_bps < rp->util_kink_bps || rp->util_max_bps >= 10000) return "util_max_bps";
  if (rp->risk_hs_bps[1] >= rp->risk_hs_bps[0]) return "risk_hs_bps";
  if (rp->max_daily_change_bps < 0) return "max_daily_change_bps";
  if (rp->funding_z_bps < 0 || rp->funding_z_bps > 100000) return "funding_z_bps";
  return NULL;
}

risk_err risk_margin_rate_compute(struct risk_margin_rate *out, const struct risk_margin_leg *legs, size_t n,
                                  const int64_t *prices, const struct risk_margin_result *r,
                                  const struct risk_margin_rate_params *rp, const struct risk_margin_rate_input *in) {
  if (risk_margin_rate_params_check(rp) || in->utilization_bps < 0 || in->utilization_bps > 10000) return RISK_INVALID;
  memset(out, 0, sizeof *out);
  /* y = sum |notional_i| * yield_i / assets: a basis leg earns its funding on the hedged notional */
  i128 num = 0;
  for (size_t i = 0; i < n; i++) {
    const struct risk_margin_leg *l = &legs[i];
    if (l->yield_kind == RISK_YIELD_NONE) continue;
    int64_t price = l->underlying == RISK_MARGIN_CASH ? RISK_MARGIN_E8 : prices[l->underlying];
    i128 notional = l->kind == RISK_MARGIN_PERP ? leg_delta(l, price) : leg_value_at(l, price, 1, 1);
    if (notional < 0) notional = -notional;
    i128 y = l->yield_kind == RISK_YIELD_BASIS
                 ? (i128)l->yield_bps - cdiv((i128)rp->funding_z_bps * l->yield_sd_bps, 10000)
                 : (i128)l->yield_bps;
    num += notional * y;
  }
  i128 yj = r->assets > 0 ? fdiv(num, r->assets) : 0;
  if (yj > 100000) yj = 100000;
  if (yj < -100000) yj = -100000;
  out->collateral_yield_bps = (int32_t)yj;
  out->raw_bps = (int32_t)(yj - rp->target_spread_bps);
  out->floor_bps = rp->lender_ref_bps + rp->lender_min_bps;
  int32_t core = out->raw_bps > out->floor_bps ? out->raw_bps : out->floor_bps;
  if (core < rp->clamp_lo_bps) core = rp->clamp_lo_bps;
  if (core > rp->clamp_hi_bps) core = rp->clamp_hi_bps;
  out->core_bps = core;
  i128 u = in->utilization_bps;
  i128 util = fdiv((u - rp->util_kink_bps) * rp->util_k_bps, 10000);
  if (u > rp->util_max_bps) util += cdiv((u - rp->util_max_bps) * rp->util_slope2_bps, 10000 - rp->util_max_bps);
  out->util_bps = (int32_t)util;
  int32_t risk = 0;
  if (r->hs_bps < rp->risk_hs_bps[0]) risk += rp->risk_premium_bps[0];
  if (r->hs_bps < rp->risk_hs_bps[1]) risk += rp->risk_premium_bps[1];
  out->risk_bps = risk;
  out->target_bps = out->core_bps + out->util_bps + out->risk_bps;
  out->rate_bps = out->target_bps;
  if (in->has_prev) {
    uint64_t dt = in->now > in->prev_at ? in->now - in->prev_at : 0;
    i128 allowed = (i128)rp->max_daily_change_bps * dt / 86400;
    if (allowed > 1000000) allowed = 1000000;
    out->max_change_bps = (int32_t)allowed;
    i128 move = (i128)out->target_bps - in->prev_rate_bps;
    if (move > allowed || move < -allowed) {
      out->rate_bps = (int32_t)(in->prev_rate_bps + (move > 0 ? allowed : -allowed));
      out->limited = true;
    }
  }
  return RISK_OK;
}

/* ---- EIP-712 ---- */

const char risk_margin_eip712_type[] =
    "MarginRecord(bytes32 portfolioId,uint64 sequence,uint64 paramsVersion,uint8 band,int256 equity,"
    "uint256 maintenanceMargin,uint256 initialMargin,int256 healthScoreBps,uint256 maxBorrow,uint64 asOf,"
    "uint64 cureDeadline)";

static void word_i64(uint8_t w[32], int64_t v) {
  memset(w, v < 0 ? 0xff : 0, 24);
  uint64_t u = (uint64_t)v;
  for (int i = 0; i < 8; i++)
    w[31 - i] = (uint8_t)(u >> (8 * i));
}

void risk_margin_struct_hash(const struct risk_margin_signed *r, uint8_t out[32]) {
  uint8_t buf[12 * 32];
  risk_keccak256((const uint8_t *)risk_margin_eip712_type, strlen(risk_margin_eip712_type), buf);
  memcpy(buf + 32, r->portfolio_id, 32);
  word_i64(buf + 2 * 32, (int64_t)r->sequence);
  word_i64(buf + 3 * 32, (int64_t)r->params_version);
  word_i64(buf + 4 * 32, r->band);
  word_i64(buf + 5 * 32, r->equity);
  word_i64(buf + 6 * 32, r->mm);
  word_i64(buf + 7 * 32, r->im);
  word_i64(buf + 8 * 32, r->hs_bps);
  word_i64(buf + 9 * 32, r->d_max);
  word_i64(buf + 10 * 32, (int64_t)r->as_of);
  word_i64(buf + 11 * 32, (int64_t)r->cure_deadline);
  risk_keccak256(buf, sizeof buf, out);
}

void risk_margin_digest(const struct risk_margin_signed *r, uint64_t chain_id, uint8_t out[32]) {
  uint8_t buf[2 + 64];
  buf[0] = 0x19;
  buf[1] = 0x01;
  risk_ltv_domain_separator(chain_id, buf + 2);
  risk_margin_struct_hash(r, buf + 34);
  risk_keccak256(buf, sizeof buf, out);
}

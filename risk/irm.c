/* Interest-rate strategies and rate sources (spec protocol-math §2.4). The Spark
 * strategies (VariableBorrow and its RateTarget subclasses) compute the liquidity rate as
 * percentMul(rayMul(vr, U), 10000 - RF); Aave's Default 3.0.2 goes through the "overall
 * borrow rate" rayDiv(rayMul(wadToRay(D), vr), wadToRay(D)), which can round differently. */
#include "risk/irm.h"

#include "risk/wadray.h"

/* ---- int256 as sign + magnitude (RateTargetKink's slope1 arithmetic) ---- */

typedef struct {
  bool neg;
  u256 mag;
} i256;

static const u256 TWO_POW_255 = {{0, 0, 0, UINT64_C(0x8000000000000000)}};

/* Returns int256(x): Solidity's explicit uint256 -> int256 conversion reinterprets the bits. */
static i256 i256_from_uint(u256 x) {
  if (u256_lt(x, TWO_POW_255)) return (i256){false, x};
  return (i256){true, u256_sub_wrap(U256_ZERO, x)}; /* 2^256 - x */
}

/* Returns RISK_OK and a + b, or RISK_OVERFLOW when the result leaves [-2^255, 2^255-1]
 * (checked int256 arithmetic). Operands may be out of range (used for a - b). */
static risk_err i256_add(i256 *r, i256 a, i256 b) {
  i256 out;
  if (a.neg == b.neg) {
    if (u256_add(&out.mag, a.mag, b.mag) != RISK_OK) return RISK_OVERFLOW;
    out.neg = a.neg;
  } else if (u256_ge(a.mag, b.mag)) {
    out.mag = u256_sub_wrap(a.mag, b.mag);
    out.neg = a.neg;
  } else {
    out.mag = u256_sub_wrap(b.mag, a.mag);
    out.neg = b.neg;
  }
  if (u256_is_zero(out.mag)) out.neg = false;
  if (out.neg ? u256_gt(out.mag, TWO_POW_255) : u256_ge(out.mag, TWO_POW_255)) return RISK_OVERFLOW;
  *r = out;
  return RISK_OK;
}

/* Returns RISK_OK and a - b (checked int256). */
static risk_err i256_sub(i256 *r, i256 a, i256 b) {
  if (!u256_is_zero(b.mag)) b.neg = !b.neg;
  return i256_add(r, a, b);
}

/* ---- rate sources ---- */

static risk_err inner_apr(u256 *apr, const struct risk_rate_source *src) {
  switch (src->kind) {
  case RISK_RATE_SOURCE_SSR:
  case RISK_RATE_SOURCE_POT: {
    u256 d;
    risk_err e = u256_sub(&d, src->value, RISK_RAY);
    if (e != RISK_OK) return e;
    return u256_mul(apr, d, u256_from_u64(RISK_YEAR));
  }
  case RISK_RATE_SOURCE_ORACLE:
    if (src->reverted) return RISK_INVALID;
    *apr = src->value;
    return RISK_OK;
  }
  return RISK_INVALID;
}

risk_err risk_rate_source_apr(u256 *apr, const struct risk_rate_source *src) {
  u256 v;
  risk_err e = inner_apr(&v, src);
  if (!src->capped) {
    if (e == RISK_OK) *apr = v;
    return e;
  }
  /* CappedFallbackRateSource: every inner failure we model reverts with data (a panic
   * code or the oracle's reason), so the default rate applies. */
  if (e != RISK_OK) {
    *apr = src->default_rate;
    return RISK_OK;
  }
  if (u256_lt(v, src->lower_bound))
    v = src->lower_bound;
  else if (u256_gt(v, src->upper_bound))
    v = src->upper_bound;
  *apr = v;
  return RISK_OK;
}

static unsigned source_decimals(const struct risk_rate_source *src) {
  return src->kind == RISK_RATE_SOURCE_ORACLE ? src->decimals : 27u;
}

risk_err risk_rate_source_apr_ray(u256 *apr_ray, const struct risk_rate_source *src) {
  unsigned dec = source_decimals(src);
  u256 apr, scale;
  risk_err e = risk_rate_source_apr(&apr, src);
  if (e != RISK_OK) return e;
  if (dec > 27) return RISK_UNDERFLOW;
  e = u256_pow10(&scale, 27 - dec);
  if (e != RISK_OK) return e;
  return u256_mul(apr_ray, apr, scale);
}

/* ---- strategies ---- */

risk_err risk_irm_get_params(struct risk_irm_params *out, const struct risk_irm *m) {
  struct risk_irm_params p;
  risk_err e = RISK_OK;
  if (u256_gt(m->optimal_usage_ratio, RISK_RAY)) return RISK_INVALID;
  p.optimal_usage_ratio = m->optimal_usage_ratio;
  p.variable_rate_slope2 = m->variable_rate_slope2;
  switch (m->kind) {
  case RISK_IRM_VARIABLE_BORROW:
  case RISK_IRM_DEFAULT:
    p.base_variable_borrow_rate = m->base_variable_borrow_rate;
    p.variable_rate_slope1 = m->variable_rate_slope1;
    break;
  case RISK_IRM_RATE_TARGET_BASE: {
    u256 apr;
    if (m->spread_negative && !u256_is_zero(m->spread)) return RISK_INVALID;
    e = risk_rate_source_apr_ray(&apr, &m->source);
    if (e == RISK_OK) e = u256_add(&p.base_variable_borrow_rate, apr, m->spread);
    if (e != RISK_OK) return e;
    p.variable_rate_slope1 = m->variable_rate_slope1;
    break;
  }
  case RISK_IRM_RATE_TARGET_KINK: {
    u256 apr;
    i256 s;
    e = risk_rate_source_apr_ray(&apr, &m->source);
    if (e != RISK_OK) return e;
    i256 spread = {m->spread_negative && !u256_is_zero(m->spread), m->spread};
    if (spread.neg ? u256_gt(spread.mag, TWO_POW_255) : u256_ge(spread.mag, TWO_POW_255))
      return RISK_INVALID; /* not an int256 */
    /* int256(getAPR) + spread - int256(base), clamped at 0 */
    e = i256_add(&s, i256_from_uint(apr), spread);
    if (e == RISK_OK) e = i256_sub(&s, s, i256_from_uint(m->base_variable_borrow_rate));
    if (e != RISK_OK) return e;
    p.base_variable_borrow_rate = m->base_variable_borrow_rate;
    p.variable_rate_slope1 = s.neg ? U256_ZERO : s.mag;
    break;
  }
  default: return RISK_INVALID;
  }
  e = u256_add(&p.max_variable_borrow_rate, p.base_variable_borrow_rate, p.variable_rate_slope1);
  if (e == RISK_OK) e = u256_add(&p.max_variable_borrow_rate, p.max_variable_borrow_rate, p.variable_rate_slope2);
  if (e != RISK_OK) return e;
  *out = p;
  return RISK_OK;
}

risk_err risk_irm_calculate(struct risk_irm_rates *out, const struct risk_irm *m, u256 debt, u256 liquidity,
                            uint32_t rf_bps) {
  struct risk_irm_params p;
  risk_err e = risk_irm_get_params(&p, m);
  if (e != RISK_OK) return e;
  bool has_debt = !u256_is_zero(debt);
  u256 u = U256_ZERO, vr = p.base_variable_borrow_rate, lr = U256_ZERO, t, x;

  if (has_debt) {
    u256 total;
    e = u256_add(&total, liquidity, debt);
    if (e == RISK_OK) e = risk_ray_div(&u, debt, total);
    if (e != RISK_OK) return e;
  }

  if (u256_gt(u, p.optimal_usage_ratio)) {
    /* vr += slope1 + rayMul(slope2, rayDiv(U - Uopt, RAY - Uopt)) */
    e = risk_ray_div(&x, u256_sub_wrap(u, p.optimal_usage_ratio), u256_sub_wrap(RISK_RAY, p.optimal_usage_ratio));
    if (e == RISK_OK) e = risk_ray_mul(&t, p.variable_rate_slope2, x);
    if (e == RISK_OK) e = u256_add(&t, p.variable_rate_slope1, t);
  } else {
    /* vr += rayDiv(rayMul(slope1, U), Uopt) */
    e = risk_ray_mul(&x, p.variable_rate_slope1, u);
    if (e == RISK_OK) e = risk_ray_div(&t, x, p.optimal_usage_ratio);
  }
  if (e == RISK_OK) e = u256_add(&vr, vr, t);
  if (e != RISK_OK) return e;

  if (m->kind == RISK_IRM_DEFAULT) {
    /* lr = percentMul(rayMul(overallBorrowRate, U), 10000 - RF), always evaluated */
    u256 ob = U256_ZERO, dray;
    if (rf_bps > RISK_PERCENTAGE_FACTOR) return RISK_UNDERFLOW;
    if (has_debt) {
      e = risk_wad_to_ray(&dray, debt);
      if (e == RISK_OK) e = risk_ray_mul(&x, dray, vr);
      if (e == RISK_OK) e = risk_ray_div(&ob, x, dray);
    }
    if (e == RISK_OK) e = risk_ray_mul(&x, ob, u);
    if (e == RISK_OK) e = risk_percent_mul(&lr, x, u256_from_u64(RISK_PERCENTAGE_FACTOR - rf_bps));
  } else if (has_debt) {
    /* lr = percentMul(rayMul(vr, U), 10000 - RF), only with debt */
    if (rf_bps > RISK_PERCENTAGE_FACTOR) return RISK_UNDERFLOW;
    e = risk_ray_mul(&x, vr, u);
    if (e == RISK_OK) e = risk_percent_mul(&lr, x, u256_from_u64(RISK_PERCENTAGE_FACTOR - rf_bps));
  }
  if (e != RISK_OK) return e;
  out->liquidity_rate = lr;
  out->variable_borrow_rate = vr;
  out->utilization = u;
  return RISK_OK;
}

risk_err risk_irm_curve(struct risk_irm_curve *out, const struct risk_irm *m, uint32_t rf_bps) {
  u256 step, kink = m->optimal_usage_ratio;
  risk_err e = u256_pow10(&step, 25); /* 1% in RAY */
  if (e != RISK_OK) return e;
  if (u256_gt(kink, RISK_RAY)) return RISK_INVALID;
  size_t n = 0;
  bool kink_done = false;
  for (unsigned k = 0; k <= 100; k++) {
    u256 uk;
    (void)u256_mul(&uk, step, u256_from_u64(k));
    if (!kink_done && u256_le(kink, uk)) {
      kink_done = true;
      if (u256_lt(kink, uk)) {
        e = risk_irm_calculate(&out->points[n], m, kink, u256_sub_wrap(RISK_RAY, kink), rf_bps);
        if (e != RISK_OK) return e;
        n++;
      }
    }
    e = risk_irm_calculate(&out->points[n], m, uk, u256_sub_wrap(RISK_RAY, uk), rf_bps);
    if (e != RISK_OK) return e;
    n++;
  }
  out->count = n;
  return RISK_OK;
}

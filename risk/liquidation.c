/* Liquidation amounts and liquidation prices (spec protocol-math §2.7; Aave v3.0.2
 * LiquidationLogic._calculateDebt, _getConfigurationData,
 * _calculateAvailableCollateralToLiquidate, ValidationLogic.validateLiquidationCall). */
#include "risk/liquidation.h"

#include <string.h>

#include "risk/wadray.h"

#define HF_ONE 1000000000000000000ull

static bool is_max(u256 a) { return (a.w[0] & a.w[1] & a.w[2] & a.w[3]) == UINT64_MAX; }

static risk_err compute(const struct risk_market *m, const struct risk_account *a, uint16_t collateral, uint16_t debt,
                        u256 debt_to_cover, const struct risk_account_data *pre, struct risk_liquidation *out) {
  memset(out, 0, sizeof *out);
  if (collateral >= m->n_reserves || debt >= m->n_reserves) return RISK_INVALID;
  const struct risk_acct_reserve *cr = &m->reserves[collateral], *dr = &m->reserves[debt];
  const struct risk_position *cp = risk_account_find(a, collateral), *dp = risk_account_find(a, debt);
  risk_err e;

  struct risk_account_data d;
  if (pre)
    d = *pre;
  else if ((e = risk_account_evaluate(m, a, &d)))
    return e;
  out->health_factor = d.health_factor;

  /* _calculateDebt */
  if (dp && !u256_is_zero(dp->scaled_debt) &&
      (e = risk_ray_mul(&out->user_debt, dp->scaled_debt, dr->variable_borrow_index)))
    return e;
  out->close_factor = u256_gt(d.health_factor, u256_from_u64(RISK_CLOSE_FACTOR_HF_THRESHOLD))
                          ? RISK_CLOSE_FACTOR_DEFAULT
                          : RISK_CLOSE_FACTOR_MAX;
  if ((e = risk_percent_mul(&out->max_liquidatable_debt, out->user_debt, u256_from_u64(out->close_factor)))) return e;
  u256 to_cover = u256_min(debt_to_cover, out->max_liquidatable_debt);
  (void)is_max;

  /* validateLiquidationCall */
  if (!cr->listed || !dr->listed || !cr->active || !dr->active)
    out->error = RISK_ONCHAIN_RESERVE_INACTIVE;
  else if (cr->paused || dr->paused)
    out->error = RISK_ONCHAIN_RESERVE_PAUSED;
  else if (!u256_lt(d.health_factor, u256_from_u64(HF_ONE)))
    out->error = RISK_ONCHAIN_HEALTH_FACTOR_NOT_BELOW_THRESHOLD;
  else if (cr->liquidation_threshold == 0 || !cp || !cp->collateral)
    out->error = RISK_ONCHAIN_COLLATERAL_CANNOT_BE_LIQUIDATED;
  else if (u256_is_zero(out->user_debt))
    out->error = RISK_ONCHAIN_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER;
  if (out->error != RISK_ONCHAIN_OK) return RISK_OK;

  /* _getConfigurationData: eMode bonus when the collateral is in the user's category */
  out->liquidation_bonus = cr->liquidation_bonus;
  if (a->emode_category != 0 && cr->emode_category == a->emode_category)
    out->liquidation_bonus = m->emode[a->emode_category & 0xff].liquidation_bonus;
  u256 bonus = u256_from_u64(out->liquidation_bonus);

  if ((e = risk_ray_mul(&out->user_collateral, cp->scaled_a, cr->liquidity_index))) return e;

  /* _calculateAvailableCollateralToLiquidate */
  u256 num, den, t;
  if ((e = u256_mul(&num, dr->price, to_cover)) || (e = u256_mul(&num, num, cr->unit)) ||
      (e = u256_mul(&den, cr->price, dr->unit)) || (e = u256_div(&out->base_collateral, num, den)))
    return e;
  u256 max_coll;
  if ((e = risk_percent_mul(&max_coll, out->base_collateral, bonus))) return e;
  u256 coll, debt_needed;
  if (u256_gt(max_coll, out->user_collateral)) {
    coll = out->user_collateral;
    out->collateral_limited = true;
    if ((e = u256_mul(&num, cr->price, coll)) || (e = u256_mul(&num, num, dr->unit)) ||
        (e = u256_mul(&den, dr->price, cr->unit)) || (e = u256_div(&t, num, den)) ||
        (e = risk_percent_div(&debt_needed, t, bonus)))
      return e;
  } else {
    coll = max_coll;
    debt_needed = to_cover;
  }
  out->collateral_amount = coll;
  out->debt_to_cover = debt_needed; /* the chain takes debtAmountNeeded as is */
  if (cr->liquidation_protocol_fee != 0) {
    if ((e = risk_percent_div(&t, coll, bonus)) || (e = u256_sub(&out->bonus_collateral, coll, t)) ||
        (e = risk_percent_mul(&out->protocol_fee, out->bonus_collateral, u256_from_u64(cr->liquidation_protocol_fee))))
      return e;
  }
  out->to_liquidator = u256_sub_wrap(coll, out->protocol_fee);
  out->clears_borrowing = u256_eq(out->user_debt, out->debt_to_cover);
  u256 sum = u256_add_wrap(out->to_liquidator, out->protocol_fee);
  out->clears_collateral = u256_eq(sum, out->user_collateral);

  /* Treasury transfer: the fee is clamped to what is left of the user's scaled balance. */
  if (!u256_is_zero(out->protocol_fee)) {
    u256 burned, left, fee_scaled;
    if ((e = risk_ray_div(&burned, out->to_liquidator, cr->liquidity_index)) ||
        (e = u256_sub(&left, cp->scaled_a, burned)) ||
        (e = risk_ray_div(&fee_scaled, out->protocol_fee, cr->liquidity_index)))
      return e;
    if (u256_gt(fee_scaled, left) && (e = risk_ray_mul(&out->protocol_fee, left, cr->liquidity_index))) return e;
  }
  return RISK_OK;
}

risk_err risk_liquidation_compute(const struct risk_market *m, const struct risk_account *a, uint16_t collateral,
                                  uint16_t debt, u256 debt_to_cover, struct risk_liquidation *out) {
  return compute(m, a, collateral, debt, debt_to_cover, NULL, out);
}

risk_err risk_liquidation_compute_evaluated(const struct risk_market *m, const struct risk_account *a,
                                            uint16_t collateral, uint16_t debt, u256 debt_to_cover,
                                            const struct risk_account_data *d, struct risk_liquidation *out) {
  return compute(m, a, collateral, debt, debt_to_cover, d, out);
}

/* One evaluation at price P of c: *ok when it did not fail; then safe (HF >= 1e18), the
 * floored average liquidation threshold, total collateral and total debt. */
struct lp_pt {
  bool ok, safe;
  uint32_t lt;
  u256 coll, debt;
};
static struct lp_pt lp_at(const struct risk_market *m, const struct risk_account *a, uint16_t c, u256 price) {
  struct risk_eval_override ov = {.pos = NULL, .price_reserve = c, .price = price, .emode = -1};
  struct risk_account_data d;
  struct lp_pt r = {.ok = false};
  if (risk_account_evaluate_with(m, a, &ov, &d)) return r;
  r.ok = true;
  r.safe = u256_ge(d.health_factor, u256_from_u64(HF_ONE));
  r.lt = d.avg_liquidation_threshold;
  r.coll = d.total_collateral_base;
  r.debt = d.total_debt_base;
  return r;
}

/* wadDiv(percentMul(coll, lt), debt) >= 1e18, the HF formula on chosen inputs; *ok false when
 * it overflows. */
static bool hf_safe(u256 coll, uint32_t lt, u256 debt, bool *ok) {
  u256 t, hf;
  *ok = !risk_percent_mul(&t, coll, u256_from_u64(lt)) && !risk_wad_div(&hf, t, debt);
  return *ok && u256_ge(hf, u256_from_u64(HF_ONE));
}

static uint32_t min32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* The bounds and their cost. HF(P) = wadDiv(percentMul(C(P), k(P)), D(P)): C, the total
 * collateral, and D, the total debt, are nondecreasing in P (D grows only when c is also
 * borrowed); k = floor(avgLT) = floor((L + V*lt)/(A + V)), V = c's value, moves monotonically
 * from L/A towards lt as P grows, so k is monotone in P but may fall while C rises: with a
 * 1-bp collateral beside WETH the HF is a sawtooth with many crossings, and bisection over the
 * whole range is wrong. Over an interval [x, y] monotonicity gives, with k's extremes at the
 * ends:
 *   HF >= wadDiv(percentMul(C(x), min(k(x), k(y))), D(y))   (lower bound)
 *   HF <= wadDiv(percentMul(C(y), max(k(x), k(y))), D(x))   (upper bound)
 * both exact at x = y, and monotone in the free end, so the last point the bound decides is
 * found by galloping then bisection. Walking from the current price, each step proves a whole
 * interval safe (down) or unsafe (up) and then evaluates the first price past it: either that
 * is the crossing, or k differs there from where the step began (with D fixed, a bound with
 * the same k is the exact HF, which would have decided that price too). So a walk takes at
 * most 10001 steps (k is in 0..10000), each O(log2 P) evaluations (up to ~2*192); in practice
 * one or a few steps: far from 1 a bound clears a whole range of pieces at once. When c is
 * also borrowed, D moves too and the step count is capped at LP_MAX_STEPS (then no price). */
#define LP_MAX_STEPS 20002u

risk_err risk_liquidation_price(const struct risk_market *m, const struct risk_account *a, uint16_t c, bool *exists,
                                u256 *price) {
  *exists = false;
  *price = U256_ZERO;
  if (c >= m->n_reserves) return RISK_INVALID;
  const struct risk_acct_reserve *r = &m->reserves[c];
  const struct risk_position *p = risk_account_find(a, c);
  if (!p || !p->collateral || r->liquidation_threshold == 0 || !r->listed || u256_is_zero(p->scaled_a)) return RISK_OK;
  const u256 cur = r->price;
  struct lp_pt q = lp_at(m, a, c, cur);
  if (!q.ok || u256_is_zero(q.debt)) return RISK_OK;
  bool ok;

  if (q.safe) {
    /* Down: the highest P <= cur with safe(P) and !safe(P - 1); 0 when safe down to 0. */
    u256 hi = cur;
    struct lp_pt qh = q;
    for (unsigned steps = 0; steps < LP_MAX_STEPS; steps++) {
      /* x: the lowest price with [x, hi] proven safe by the lower bound (true at hi) */
      u256 x = hi, step = U256_ONE, out = U256_ZERO;
      bool has_out = false;
      while (!u256_is_zero(x)) {
        u256 y = u256_le(x, step) ? U256_ZERO : u256_sub_wrap(x, step);
        struct lp_pt qy = lp_at(m, a, c, y);
        if (!qy.ok || !hf_safe(qy.coll, min32(qy.lt, qh.lt), qh.debt, &ok)) {
          out = y, has_out = true;
          break;
        }
        x = y;
        step = u256_shl(step, 1);
      }
      if (!has_out) { /* safe at every price down to 0 */
        *exists = true;
        return RISK_OK;
      }
      while (u256_gt(u256_sub_wrap(x, out), U256_ONE)) {
        u256 mid = u256_add_wrap(out, u256_shr(u256_sub_wrap(x, out), 1));
        struct lp_pt qm = lp_at(m, a, c, mid);
        if (qm.ok && hf_safe(qm.coll, min32(qm.lt, qh.lt), qh.debt, &ok))
          x = mid;
        else
          out = mid;
      }
      /* [x, hi] safe; out = x - 1 */
      struct lp_pt qo = lp_at(m, a, c, out);
      if (!qo.ok || !qo.safe) {
        *exists = true;
        *price = x;
        return RISK_OK;
      }
      hi = out;
      qh = qo;
    }
    return RISK_OK;
  }

  /* Up: the lowest P > cur with safe(P); none when the HF stays below 1 up to 2^192 or the
   * evaluation overflows first (the chain reverts at such prices). */
  const unsigned LIMIT_BITS = 192;
  const u256 limit = u256_sub_wrap(u256_shl(U256_ONE, LIMIT_BITS), U256_ONE);
  u256 lo = cur;
  struct lp_pt ql = q;
  for (unsigned steps = 0; steps < LP_MAX_STEPS; steps++) {
    /* x: the highest price with [lo, x] proven unsafe by the upper bound (true at lo) */
    u256 x = lo, step = U256_ONE, out = U256_ZERO;
    bool has_out = false;
    while (u256_lt(x, limit)) {
      u256 y;
      if (u256_add(&y, x, step) || u256_gt(y, limit)) y = limit;
      struct lp_pt qy = lp_at(m, a, c, y);
      if (!qy.ok || hf_safe(qy.coll, max32(qy.lt, ql.lt), ql.debt, &ok) || !ok) {
        out = y, has_out = true;
        break;
      }
      x = y;
      step = u256_shl(step, 1);
    }
    if (!has_out) return RISK_OK; /* unsafe up to the limit */
    while (u256_gt(u256_sub_wrap(out, x), U256_ONE)) {
      u256 mid = u256_add_wrap(x, u256_shr(u256_sub_wrap(out, x), 1));
      struct lp_pt qm = lp_at(m, a, c, mid);
      if (qm.ok && !hf_safe(qm.coll, max32(qm.lt, ql.lt), ql.debt, &ok) && ok)
        x = mid;
      else
        out = mid;
    }
    /* [lo, x] unsafe; out = x + 1 */
    struct lp_pt qo = lp_at(m, a, c, out);
    if (!qo.ok) return RISK_OK;
    if (qo.safe) {
      *exists = true;
      *price = out;
      return RISK_OK;
    }
    lo = out;
    ql = qo;
  }
  return RISK_OK;
}

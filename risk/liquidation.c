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

/* hf(P) >= 1e18 with collateral c at price P; *err set on an engine error. */
static bool safe_at(const struct risk_market *m, const struct risk_account *a, uint16_t c, u256 price, risk_err *err) {
  struct risk_eval_override ov = {.pos = NULL, .price_reserve = c, .price = price, .emode = -1};
  struct risk_account_data d;
  risk_err e = risk_account_evaluate_with(m, a, &ov, &d);
  if (e) {
    *err = e;
    return false;
  }
  return u256_ge(d.health_factor, u256_from_u64(HF_ONE));
}

risk_err risk_liquidation_price(const struct risk_market *m, const struct risk_account *a, uint16_t c, bool *exists,
                                u256 *price) {
  *exists = false;
  *price = U256_ZERO;
  if (c >= m->n_reserves) return RISK_INVALID;
  const struct risk_acct_reserve *r = &m->reserves[c];
  const struct risk_position *p = risk_account_find(a, c);
  if (!p || !p->collateral || r->liquidation_threshold == 0 || !r->listed || u256_is_zero(p->scaled_a)) return RISK_OK;
  struct risk_account_data d0;
  risk_err e = RISK_OK;
  struct risk_eval_override ov0 = {.pos = NULL, .price_reserve = c, .price = U256_ZERO, .emode = -1};
  if ((e = risk_account_evaluate_with(m, a, &ov0, &d0))) return e;
  if (u256_is_zero(d0.total_debt_base)) {
    /* no debt at price 0: either none at all, or only debt in c itself */
    struct risk_account_data d;
    if ((e = risk_account_evaluate(m, a, &d))) return e;
    if (u256_is_zero(d.total_debt_base)) return RISK_OK;
  }
  if (u256_ge(d0.health_factor, u256_from_u64(HF_ONE))) {
    *exists = true; /* safe even at price 0 */
    return RISK_OK;
  }

  /* Closed form: sum(coll_i * lt_i) >= debt * 1e4 with coll_c = bal * P / unit. */
  uint32_t lt = r->liquidation_threshold;
  if (a->emode_category != 0 && r->emode_category == a->emode_category)
    lt = m->emode[a->emode_category & 0xff].liquidation_threshold;
  u256 bal, need, have, est = U256_ONE, t;
  if ((e = risk_ray_mul(&bal, p->scaled_a, r->liquidity_index))) return e;
  if (u256_is_zero(bal)) return RISK_OK;
  if (!u256_mul(&need, d0.total_debt_base, u256_from_u64(10000)) &&
      !u256_mul(&have, d0.total_collateral_base, u256_from_u64(d0.avg_liquidation_threshold))) {
    if (u256_gt(need, have)) {
      u256 den;
      if (!u256_mul(&den, bal, u256_from_u64(lt)) && !u256_muldiv_up(&t, u256_sub_wrap(need, have), r->unit, den) &&
          !u256_is_zero(t))
        est = t;
    }
  }

  /* Find lo (unsafe) < hi (safe), starting from the estimate. */
  u256 lo = U256_ZERO, hi;
  const unsigned LIMIT_BITS = 192; /* prices beyond 2^192 are "no such price" */
  if (safe_at(m, a, c, est, &e)) {
    hi = est;
    u256 step = U256_ONE;
    for (;;) {
      if (u256_le(hi, step)) {
        lo = U256_ZERO;
        break;
      }
      u256 nx = u256_sub_wrap(hi, step);
      if (!safe_at(m, a, c, nx, &e)) {
        if (e) return e;
        lo = nx;
        break;
      }
      hi = nx;
      step = u256_shl(step, 1);
    }
  } else {
    if (e) return e;
    lo = est;
    u256 step = U256_ONE;
    for (;;) {
      u256 nx;
      if (u256_add(&nx, lo, step) || u256_bits(nx) > LIMIT_BITS) return RISK_OK; /* no price makes the account safe */
      if (safe_at(m, a, c, nx, &e)) {
        hi = nx;
        break;
      }
      if (e) return RISK_OK; /* the evaluation overflows: the chain reverts at such a price */
      lo = nx;
      step = u256_shl(step, 1);
    }
  }
  while (u256_gt(u256_sub_wrap(hi, lo), U256_ONE)) {
    u256 mid = u256_add_wrap(lo, u256_shr(u256_sub_wrap(hi, lo), 1));
    if (safe_at(m, a, c, mid, &e))
      hi = mid;
    else {
      if (e) return e;
      lo = mid;
    }
  }
  /* Certify: safe at hi, unsafe at hi - 1. */
  if (!safe_at(m, a, c, hi, &e) || safe_at(m, a, c, u256_sub_wrap(hi, U256_ONE), &e)) return e;
  *exists = true;
  *price = hi;
  return RISK_OK;
}

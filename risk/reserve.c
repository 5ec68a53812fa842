/* Reserve configuration bitmap, interest accrual and index math (spec protocol-math
 * §2.2, §2.3): ReserveConfiguration, MathUtils, ReserveLogic.updateState of Aave
 * v3.0.2 as deployed by SparkLend. Stable debt is zero on Spark and is left out. */
#include "risk/reserve.h"

#include "risk/wadray.h"

#define UINT40_MAX_VALUE 1099511627775ull

/* Returns bits [lo, lo+width) of v (width <= 64). */
static uint64_t get_bits(u256 v, unsigned lo, unsigned width) {
  u256 s = u256_shr(v, lo);
  uint64_t x = s.w[0];
  return width >= 64 ? x : (x & ((UINT64_C(1) << width) - 1));
}

/* Returns v with value placed at bit lo (value must already fit its field). */
static u256 put_bits(u256 v, unsigned lo, uint64_t value) {
  u256 s = u256_shl(u256_from_u64(value), lo);
  for (int i = 0; i < 4; i++)
    v.w[i] |= s.w[i];
  return v;
}

void risk_reserve_config_decode(u256 bitmap, struct risk_reserve_config *out) {
  out->ltv = (uint32_t)get_bits(bitmap, 0, 16);
  out->liquidation_threshold = (uint32_t)get_bits(bitmap, 16, 16);
  out->liquidation_bonus = (uint32_t)get_bits(bitmap, 32, 16);
  out->decimals = (uint32_t)get_bits(bitmap, 48, 8);
  out->active = get_bits(bitmap, 56, 1) != 0;
  out->frozen = get_bits(bitmap, 57, 1) != 0;
  out->borrowing_enabled = get_bits(bitmap, 58, 1) != 0;
  out->stable_borrowing_enabled = get_bits(bitmap, 59, 1) != 0;
  out->paused = get_bits(bitmap, 60, 1) != 0;
  out->borrowable_in_isolation = get_bits(bitmap, 61, 1) != 0;
  out->siloed_borrowing = get_bits(bitmap, 62, 1) != 0;
  out->flashloan_enabled = get_bits(bitmap, 63, 1) != 0;
  out->reserve_factor = (uint32_t)get_bits(bitmap, 64, 16);
  out->borrow_cap = get_bits(bitmap, 80, 36);
  out->supply_cap = get_bits(bitmap, 116, 36);
  out->liquidation_protocol_fee = (uint32_t)get_bits(bitmap, 152, 16);
  out->emode_category = (uint32_t)get_bits(bitmap, 168, 8);
  out->unbacked_mint_cap = get_bits(bitmap, 176, 36);
  out->debt_ceiling = get_bits(bitmap, 212, 40);
}

risk_err risk_reserve_config_encode(const struct risk_reserve_config *c, u256 *bitmap) {
  if (c->ltv > RISK_RESERVE_MAX_BPS || c->liquidation_threshold > RISK_RESERVE_MAX_BPS ||
      c->liquidation_bonus > RISK_RESERVE_MAX_BPS || c->decimals > RISK_RESERVE_MAX_U8 ||
      c->reserve_factor > RISK_RESERVE_MAX_BPS || c->borrow_cap > RISK_RESERVE_MAX_CAP ||
      c->supply_cap > RISK_RESERVE_MAX_CAP || c->liquidation_protocol_fee > RISK_RESERVE_MAX_BPS ||
      c->emode_category > RISK_RESERVE_MAX_U8 || c->unbacked_mint_cap > RISK_RESERVE_MAX_CAP ||
      c->debt_ceiling > RISK_RESERVE_MAX_DEBT_CEILING)
    return RISK_INVALID;
  u256 v = U256_ZERO;
  v = put_bits(v, 0, c->ltv);
  v = put_bits(v, 16, c->liquidation_threshold);
  v = put_bits(v, 32, c->liquidation_bonus);
  v = put_bits(v, 48, c->decimals);
  v = put_bits(v, 56, c->active);
  v = put_bits(v, 57, c->frozen);
  v = put_bits(v, 58, c->borrowing_enabled);
  v = put_bits(v, 59, c->stable_borrowing_enabled);
  v = put_bits(v, 60, c->paused);
  v = put_bits(v, 61, c->borrowable_in_isolation);
  v = put_bits(v, 62, c->siloed_borrowing);
  v = put_bits(v, 63, c->flashloan_enabled);
  v = put_bits(v, 64, c->reserve_factor);
  v = put_bits(v, 80, c->borrow_cap);
  v = put_bits(v, 116, c->supply_cap);
  v = put_bits(v, 152, c->liquidation_protocol_fee);
  v = put_bits(v, 168, c->emode_category);
  v = put_bits(v, 176, c->unbacked_mint_cap);
  v = put_bits(v, 212, c->debt_ceiling);
  *bitmap = v;
  return RISK_OK;
}

/* Returns true when v fits in 128 bits (SafeCast.toUint128 does not revert). */
static bool fits_u128(u256 v) { return v.w[2] == 0 && v.w[3] == 0; }

risk_err risk_linear_interest(u256 *r, u256 rate, uint64_t t0, uint64_t t) {
  if (t < t0) return RISK_UNDERFLOW;
  u256 p, q, sum;
  risk_err e = u256_mul(&p, rate, u256_from_u64(t - t0));
  if (e == RISK_OK) e = u256_div(&q, p, u256_from_u64(RISK_YEAR));
  if (e == RISK_OK) e = u256_add(&sum, RISK_RAY, q);
  if (e == RISK_OK) *r = sum;
  return e;
}

/* The Taylor expansion follows MathUtils: the base powers are computed with rayMul
 * (which checks its own overflow) and unchecked divisions by the year constants; the
 * products exp*expMinusOne*basePowerTwo and exp*expMinusOne*expMinusTwo*basePowerThree
 * are checked, their divisions by 2 and 6 are not (cannot fail); rate*exp and the
 * final additions are checked. */
risk_err risk_compounded_interest(u256 *r, u256 rate, uint64_t t0, uint64_t t) {
  if (t < t0) return RISK_UNDERFLOW;
  uint64_t ex = t - t0;
  if (ex == 0) {
    *r = RISK_RAY;
    return RISK_OK;
  }
  u256 exp = u256_from_u64(ex);
  u256 em1 = u256_from_u64(ex - 1);
  u256 em2 = u256_from_u64(ex > 2 ? ex - 2 : 0);
  const u256 year = u256_from_u64(RISK_YEAR);
  const u256 year2 = u256_from_u64((uint64_t)RISK_YEAR * RISK_YEAR);
  u256 b2, b3, tmp, second, third, first, sum;
  risk_err e = risk_ray_mul(&tmp, rate, rate);
  if (e == RISK_OK) e = u256_div(&b2, tmp, year2);
  if (e == RISK_OK) e = risk_ray_mul(&tmp, b2, rate);
  if (e == RISK_OK) e = u256_div(&b3, tmp, year);
  /* secondTerm = exp * expMinusOne * basePowerTwo / 2 */
  if (e == RISK_OK) e = u256_mul(&tmp, exp, em1);
  if (e == RISK_OK) e = u256_mul(&second, tmp, b2);
  if (e == RISK_OK) second = u256_shr(second, 1);
  /* thirdTerm = exp * expMinusOne * expMinusTwo * basePowerThree / 6 */
  if (e == RISK_OK) e = u256_mul(&tmp, exp, em1);
  if (e == RISK_OK) e = u256_mul(&tmp, tmp, em2);
  if (e == RISK_OK) e = u256_mul(&third, tmp, b3);
  if (e == RISK_OK) e = u256_div(&third, third, u256_from_u64(6));
  /* RAY + rate*exp/YEAR + secondTerm + thirdTerm */
  if (e == RISK_OK) e = u256_mul(&tmp, rate, exp);
  if (e == RISK_OK) e = u256_div(&first, tmp, year);
  if (e == RISK_OK) e = u256_add(&sum, RISK_RAY, first);
  if (e == RISK_OK) e = u256_add(&sum, sum, second);
  if (e == RISK_OK) e = u256_add(&sum, sum, third);
  if (e == RISK_OK) *r = sum;
  return e;
}

risk_err risk_reserve_normalized_income(u256 *r, const struct risk_reserve_state *s, uint64_t t) {
  if (t == s->last_update_timestamp) {
    *r = s->liquidity_index;
    return RISK_OK;
  }
  u256 lin;
  risk_err e = risk_linear_interest(&lin, s->current_liquidity_rate, s->last_update_timestamp, t);
  if (e != RISK_OK) return e;
  return risk_ray_mul(r, lin, s->liquidity_index);
}

risk_err risk_reserve_normalized_debt(u256 *r, const struct risk_reserve_state *s, uint64_t t) {
  if (t == s->last_update_timestamp) {
    *r = s->variable_borrow_index;
    return RISK_OK;
  }
  u256 comp;
  risk_err e = risk_compounded_interest(&comp, s->current_variable_borrow_rate, s->last_update_timestamp, t);
  if (e != RISK_OK) return e;
  return risk_ray_mul(r, comp, s->variable_borrow_index);
}

risk_err risk_reserve_update_state(struct risk_reserve_state *out, const struct risk_reserve_state *in, uint64_t now) {
  struct risk_reserve_state s = *in;
  if (now == s.last_update_timestamp) {
    *out = s;
    return RISK_OK;
  }
  if (now < s.last_update_timestamp) return RISK_UNDERFLOW;
  if (now > UINT40_MAX_VALUE) return RISK_INVALID;
  risk_err e = RISK_OK;
  u256 tmp;

  /* 1. liquidity index, only while the liquidity rate is non-zero */
  u256 next_liq = s.liquidity_index;
  if (!u256_is_zero(s.current_liquidity_rate)) {
    e = risk_linear_interest(&tmp, s.current_liquidity_rate, s.last_update_timestamp, now);
    if (e == RISK_OK) e = risk_ray_mul(&next_liq, tmp, s.liquidity_index);
    if (e != RISK_OK) return e;
    if (!fits_u128(next_liq)) return RISK_OVERFLOW;
  }

  /* 2. variable borrow index, only while there is scaled variable debt */
  u256 next_var = s.variable_borrow_index;
  if (!u256_is_zero(s.variable_debt_scaled_total_supply)) {
    e = risk_compounded_interest(&tmp, s.current_variable_borrow_rate, s.last_update_timestamp, now);
    if (e == RISK_OK) e = risk_ray_mul(&next_var, tmp, s.variable_borrow_index);
    if (e != RISK_OK) return e;
    if (!fits_u128(next_var)) return RISK_OVERFLOW;
  }

  /* 3. treasury accrual, skipped when the reserve factor is 0 */
  u256 accrued_to_treasury = s.accrued_to_treasury;
  if (s.config.reserve_factor != 0) {
    if (s.config.reserve_factor > 10000u) return RISK_INVALID;
    u256 prev, curr, accrued, mint, scaled;
    e = risk_ray_mul(&prev, s.variable_debt_scaled_total_supply, s.variable_borrow_index);
    if (e == RISK_OK) e = risk_ray_mul(&curr, s.variable_debt_scaled_total_supply, next_var);
    if (e == RISK_OK) e = u256_sub(&accrued, curr, prev);
    if (e == RISK_OK) e = risk_percent_mul(&mint, accrued, u256_from_u64(s.config.reserve_factor));
    if (e == RISK_OK && !u256_is_zero(mint)) {
      e = risk_ray_div(&scaled, mint, next_liq);
      if (e == RISK_OK && !fits_u128(scaled)) e = RISK_OVERFLOW; /* toUint128 */
      if (e == RISK_OK) e = u256_add(&accrued_to_treasury, accrued_to_treasury, scaled);
      if (e == RISK_OK && !fits_u128(accrued_to_treasury)) e = RISK_OVERFLOW; /* uint128 += */
    }
    if (e != RISK_OK) return e;
  }

  /* 4. timestamp */
  s.liquidity_index = next_liq;
  s.variable_borrow_index = next_var;
  s.accrued_to_treasury = accrued_to_treasury;
  s.last_update_timestamp = now;
  *out = s;
  return RISK_OK;
}

risk_err risk_reserve_to_scaled(u256 *scaled, u256 amount, u256 index) {
  u256 v;
  risk_err e = risk_ray_div(&v, amount, index);
  if (e != RISK_OK) return e;
  if (u256_is_zero(v)) return RISK_INVALID;
  *scaled = v;
  return RISK_OK;
}

risk_err risk_reserve_from_scaled(u256 *amount, u256 scaled, u256 index) { return risk_ray_mul(amount, scaled, index); }

risk_err risk_reserve_supply_balance(u256 *r, const struct risk_reserve_state *s, u256 scaled, uint64_t t) {
  u256 idx;
  risk_err e = risk_reserve_normalized_income(&idx, s, t);
  if (e != RISK_OK) return e;
  return risk_ray_mul(r, scaled, idx);
}

risk_err risk_reserve_debt_balance(u256 *r, const struct risk_reserve_state *s, u256 scaled, uint64_t t) {
  u256 idx;
  risk_err e = risk_reserve_normalized_debt(&idx, s, t);
  if (e != RISK_OK) return e;
  return risk_ray_mul(r, scaled, idx);
}

risk_err risk_reserve_total_supplied(u256 *r, const struct risk_reserve_state *s, uint64_t t) {
  return risk_reserve_supply_balance(r, s, s->a_token_scaled_total_supply, t);
}

risk_err risk_reserve_total_debt(u256 *r, const struct risk_reserve_state *s, uint64_t t) {
  return risk_reserve_debt_balance(r, s, s->variable_debt_scaled_total_supply, t);
}

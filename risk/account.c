/* Account evaluation, action validation, action effects and maximum amounts
 * (spec protocol-math §2.5, §2.6; Aave v3.0.2 GenericLogic, ValidationLogic,
 * SupplyLogic, BorrowLogic, EModeLogic, IsolationModeLogic). */
#include "risk/account.h"

#include <string.h>

#include "risk/reserve.h"
#include "risk/wadray.h"

typedef unsigned __int128 u128;

#define FIVE_POW_27 7450580596923828125ull
#define PCT 10000u
#define HALF_PCT 5000u
#define HF_ONE 1000000000000000000ull

/* ---------------------------------------------------------------- fast arithmetic */

static inline bool hi_zero(u256 a, int from) {
  for (int i = from; i < 4; i++)
    if (a.w[i]) return false;
  return true;
}

/* Returns hi:lo / d for hi < d (one hardware division). */
static inline uint64_t divq(uint64_t hi, uint64_t lo, uint64_t d, uint64_t *rem) {
#if defined(__x86_64__)
  uint64_t q, r;
  __asm__("divq %4" : "=a"(q), "=d"(r) : "a"(lo), "d"(hi), "rm"(d) : "cc");
  *rem = r;
  return q;
#else
  u128 n = ((u128)hi << 64) | lo;
  *rem = (uint64_t)(n % d);
  return (uint64_t)(n / d);
#endif
}

/* Returns fl(a / d) for a 64-bit divisor d != 0. */
static inline u256 div64(u256 a, uint64_t d) {
  u256 q = U256_ZERO;
  uint64_t r = 0;
  for (int i = 3; i >= 0; i--) {
    if (r == 0 && a.w[i] < d) {
      r = a.w[i];
      continue;
    }
    q.w[i] = divq(r, a.w[i], d, &r);
  }
  return q;
}

/* Returns RISK_OK and fl(a / d) (a general divisor; 64-bit fast path). */
static inline risk_err divx(u256 *q, u256 a, u256 d) {
  if (hi_zero(d, 1)) {
    if (d.w[0] == 0) return RISK_DIV_BY_ZERO;
    *q = div64(a, d.w[0]);
    return RISK_OK;
  }
  return u256_div(q, a, d);
}

/* Returns RISK_OK and a*b for a 64-bit b, or RISK_OVERFLOW. */
static inline risk_err mul64(u256 *r, u256 a, uint64_t b) {
  u256 o;
  uint64_t carry = 0;
  for (int i = 0; i < 4; i++) {
    u128 p = (u128)a.w[i] * b + carry;
    o.w[i] = (uint64_t)p;
    carry = (uint64_t)(p >> 64);
  }
  if (carry) return RISK_OVERFLOW;
  *r = o;
  return RISK_OK;
}

/* Returns RISK_OK and a*b, or RISK_OVERFLOW. */
static inline risk_err mulx(u256 *r, u256 a, u256 b) {
  if (hi_zero(b, 1)) return mul64(r, a, b.w[0]);
  if (hi_zero(a, 1)) return mul64(r, b, a.w[0]);
  return u256_mul(r, a, b);
}

static inline risk_err addx(u256 *r, u256 a, u256 b) {
  u256 o;
  unsigned char c = 0;
  for (int i = 0; i < 4; i++) {
    u128 s = (u128)a.w[i] + b.w[i] + c;
    o.w[i] = (uint64_t)s;
    c = (unsigned char)(s >> 64);
  }
  if (c) return RISK_OVERFLOW;
  *r = o;
  return RISK_OK;
}

/* rayMul with a 128x128 fast path: fl((a*b + HALF_RAY) / RAY). */
static inline risk_err ray_mul(u256 *r, u256 a, u256 b) {
  if (hi_zero(a, 2) && hi_zero(b, 2)) {
    u128 a0b0 = (u128)a.w[0] * b.w[0], a0b1 = (u128)a.w[0] * b.w[1];
    u128 a1b0 = (u128)a.w[1] * b.w[0], a1b1 = (u128)a.w[1] * b.w[1];
    u256 p;
    p.w[0] = (uint64_t)a0b0;
    u128 mid = (a0b0 >> 64) + (uint64_t)a0b1 + (uint64_t)a1b0;
    p.w[1] = (uint64_t)mid;
    u128 top = (mid >> 64) + (a0b1 >> 64) + (a1b0 >> 64) + a1b1;
    p.w[2] = (uint64_t)top;
    p.w[3] = (uint64_t)(top >> 64);
    risk_err e = addx(&p, p, RISK_HALF_RAY);
    if (e) return e;
    *r = div64(u256_shr(p, 27), FIVE_POW_27);
    return RISK_OK;
  }
  return risk_ray_mul(r, a, b);
}

/* fl(x / 10^decimals) of reserve res. */
static inline u256 div_unit(u256 x, const struct risk_acct_reserve *res) {
  if (res->unit5) {
    if (res->decimals) x = u256_shr(x, res->decimals);
    return res->unit5 == 1 ? x : div64(x, res->unit5);
  }
  u256 q = U256_ZERO;
  (void)u256_div(&q, x, res->unit);
  return q;
}

static inline bool is_max(u256 a) { return (a.w[0] & a.w[1] & a.w[2] & a.w[3]) == UINT64_MAX; }

static const u256 U128_MAX = {{UINT64_MAX, UINT64_MAX, 0, 0}};

/* ---------------------------------------------------------------- market */

risk_err risk_market_prepare(struct risk_market *m) {
  if (m->n_reserves > RISK_MAX_RESERVES) return RISK_INVALID;
  for (uint32_t i = 0; i < m->n_reserves; i++) {
    struct risk_acct_reserve *r = &m->reserves[i];
    if (r->decimals > RISK_MAX_DECIMALS) return RISK_INVALID;
    (void)u256_pow10(&r->unit, r->decimals);
    r->unit5 = 0;
    if (r->decimals <= 27) {
      uint64_t f = 1;
      for (uint32_t k = 0; k < r->decimals; k++)
        f *= 5;
      r->unit5 = f;
    }
  }
  return RISK_OK;
}

risk_err risk_acct_reserve_from_state(struct risk_acct_reserve *out, const struct risk_reserve_state *s, u256 price,
                                      uint64_t t) {
  struct risk_reserve_state u;
  risk_err e;
  memset(out, 0, sizeof *out);
  if ((e = risk_reserve_update_state(&u, s, t))) return e;
  if ((e = risk_reserve_normalized_income(&out->liquidity_index, s, t)) ||
      (e = risk_reserve_normalized_debt(&out->variable_borrow_index, s, t)))
    return e;
  const struct risk_reserve_config *c = &s->config;
  out->decimals = c->decimals;
  out->ltv = c->ltv;
  out->liquidation_threshold = c->liquidation_threshold;
  out->liquidation_bonus = c->liquidation_bonus;
  out->liquidation_protocol_fee = c->liquidation_protocol_fee;
  out->emode_category = c->emode_category;
  out->borrow_cap = c->borrow_cap;
  out->supply_cap = c->supply_cap;
  out->debt_ceiling = c->debt_ceiling;
  out->listed = true;
  out->active = c->active;
  out->frozen = c->frozen;
  out->paused = c->paused;
  out->borrowing_enabled = c->borrowing_enabled;
  out->borrowable_in_isolation = c->borrowable_in_isolation;
  out->siloed_borrowing = c->siloed_borrowing;
  out->price = price;
  out->next_variable_borrow_index = u.variable_borrow_index;
  out->a_token_scaled_total_supply = u.a_token_scaled_total_supply;
  out->accrued_to_treasury = u.accrued_to_treasury;
  out->variable_debt_scaled_total_supply = u.variable_debt_scaled_total_supply;
  out->isolation_mode_total_debt = u.isolation_mode_total_debt;
  out->available_liquidity = u.available_liquidity;
  return RISK_OK;
}

static inline u256 next_var_index(const struct risk_acct_reserve *r) {
  return u256_is_zero(r->next_variable_borrow_index) ? r->variable_borrow_index : r->next_variable_borrow_index;
}

/* ---------------------------------------------------------------- evaluation */

/* The core of calculateUserAccountData over a merged stream of positions. */
static risk_err evaluate(const struct risk_market *m, const struct risk_position *pos, size_t n, uint32_t emode,
                         const struct risk_eval_override *ov, struct risk_account_data *out) {
  u256 total_coll = U256_ZERO, total_debt = U256_ZERO, sum_ltv = U256_ZERO, sum_lt = U256_ZERO;
  bool zero_ltv = false;
  uint32_t ncoll = 0, nborrow = 0;
  int first_coll = -1, first_borrow = -1;
  const struct risk_emode_category *cat = emode ? &m->emode[emode & 0xff] : NULL;
  const struct risk_position *opos = ov ? ov->pos : NULL;
  int price_res = ov ? ov->price_reserve : -1;
  size_t i = 0;
  int last = -1;
  risk_err e;

  for (;;) {
    const struct risk_position *p;
    if (i < n) {
      p = &pos[i];
      if (opos && opos->reserve <= p->reserve) {
        if (opos->reserve == p->reserve) i++;
        p = opos;
        opos = NULL;
      } else {
        i++;
      }
    } else if (opos) {
      p = opos;
      opos = NULL;
    } else {
      break;
    }
    if ((int)p->reserve <= last || p->reserve >= m->n_reserves) return RISK_INVALID;
    last = p->reserve;
    if (!p->collateral && !p->borrowing) continue;
    if (p->collateral) {
      ncoll++;
      if (first_coll < 0) first_coll = p->reserve;
    }
    if (p->borrowing) {
      nborrow++;
      if (first_borrow < 0) first_borrow = p->reserve;
    }
    const struct risk_acct_reserve *r = &m->reserves[p->reserve];
    if (!r->listed) continue;
    u256 price = (price_res == (int)p->reserve) ? ov->price : r->price;
    if (p->collateral && r->liquidation_threshold != 0) {
      u256 bal, v;
      if ((e = ray_mul(&bal, p->scaled_a, r->liquidity_index)) || (e = mulx(&v, bal, price))) return e;
      v = div_unit(v, r);
      if ((e = addx(&total_coll, total_coll, v))) return e;
      bool in_cat = cat && r->emode_category == emode;
      u256 t;
      if (r->ltv != 0) {
        if ((e = mul64(&t, v, in_cat ? cat->ltv : r->ltv)) || (e = addx(&sum_ltv, sum_ltv, t))) return e;
      } else {
        zero_ltv = true;
      }
      if ((e = mul64(&t, v, in_cat ? cat->liquidation_threshold : r->liquidation_threshold)) ||
          (e = addx(&sum_lt, sum_lt, t)))
        return e;
    }
    if (p->borrowing) {
      u256 debt = U256_ZERO, v;
      if (!u256_is_zero(p->scaled_debt) && (e = ray_mul(&debt, p->scaled_debt, r->variable_borrow_index))) return e;
      if ((e = mulx(&v, debt, price))) return e;
      if ((e = addx(&total_debt, total_debt, div_unit(v, r)))) return e;
    }
  }

  memset(out, 0, sizeof *out);
  out->n_collateral_bits = ncoll;
  out->n_borrowing_bits = nborrow;
  out->first_borrowed = first_borrow < 0 ? 0 : (uint16_t)first_borrow;
  if (ncoll == 1) {
    const struct risk_acct_reserve *r = &m->reserves[first_coll];
    if (r->listed && r->debt_ceiling != 0) {
      out->isolated = true;
      out->isolation_collateral = (uint16_t)first_coll;
    }
  }
  if (ncoll == 0 && nborrow == 0) {
    out->health_factor = U256_MAX;
    return RISK_OK;
  }
  out->total_collateral_base = total_coll;
  out->total_debt_base = total_debt;
  out->has_zero_ltv_collateral = zero_ltv;
  u256 avg_ltv = U256_ZERO, avg_lt = U256_ZERO;
  if (!u256_is_zero(total_coll)) {
    if ((e = divx(&avg_ltv, sum_ltv, total_coll)) || (e = divx(&avg_lt, sum_lt, total_coll))) return e;
  }
  /* Averages are weighted means of bps values, so they fit 16 bits. */
  out->avg_ltv = (uint32_t)avg_ltv.w[0];
  out->avg_liquidation_threshold = (uint32_t)avg_lt.w[0];
  /* percentMul(totalColl, avgLT) */
  u256 wl;
  if ((e = mul64(&wl, total_coll, out->avg_liquidation_threshold)) || (e = addx(&wl, wl, u256_from_u64(HALF_PCT))))
    return e;
  wl = div64(wl, PCT);
  if (u256_is_zero(total_debt)) {
    out->health_factor = U256_MAX;
  } else {
    /* wadDiv(wl, debt) = fl((wl*WAD + debt/2) / debt) */
    u256 num;
    if ((e = mul64(&num, wl, HF_ONE)) || (e = addx(&num, num, u256_shr(total_debt, 1))) ||
        (e = divx(&out->health_factor, num, total_debt)))
      return e;
  }
  /* calculateAvailableBorrows: percentMul(coll, avgLtv) - debt, floored at 0 */
  u256 ab;
  if ((e = mul64(&ab, total_coll, out->avg_ltv)) || (e = addx(&ab, ab, u256_from_u64(HALF_PCT)))) return e;
  ab = div64(ab, PCT);
  out->available_borrows_base = u256_gt(ab, total_debt) ? u256_sub_wrap(ab, total_debt) : U256_ZERO;
  return RISK_OK;
}

risk_err risk_account_evaluate_positions(const struct risk_market *m, const struct risk_position *pos, size_t n,
                                         uint32_t emode_category, struct risk_account_data *out) {
  return evaluate(m, pos, n, emode_category, NULL, out);
}

risk_err risk_account_evaluate(const struct risk_market *m, const struct risk_account *a,
                               struct risk_account_data *out) {
  return evaluate(m, a->pos, a->n_positions, a->emode_category, NULL, out);
}

risk_err risk_account_evaluate_with(const struct risk_market *m, const struct risk_account *a,
                                    const struct risk_eval_override *ov, struct risk_account_data *out) {
  uint32_t emode = (ov && ov->emode >= 0) ? (uint32_t)ov->emode : a->emode_category;
  return evaluate(m, a->pos, a->n_positions, emode, ov, out);
}

/* ---------------------------------------------------------------- errors */

static const struct {
  const char *name;
  const char *code;
} ONCHAIN[RISK_ONCHAIN__COUNT] = {
    [RISK_ONCHAIN_OK] = {"OK", NULL},
    [RISK_ONCHAIN_INVALID_AMOUNT] = {"INVALID_AMOUNT", "26"},
    [RISK_ONCHAIN_RESERVE_INACTIVE] = {"RESERVE_INACTIVE", "27"},
    [RISK_ONCHAIN_RESERVE_PAUSED] = {"RESERVE_PAUSED", "29"},
    [RISK_ONCHAIN_RESERVE_FROZEN] = {"RESERVE_FROZEN", "28"},
    [RISK_ONCHAIN_BORROWING_NOT_ENABLED] = {"BORROWING_NOT_ENABLED", "30"},
    [RISK_ONCHAIN_SUPPLY_CAP_EXCEEDED] = {"SUPPLY_CAP_EXCEEDED", "51"},
    [RISK_ONCHAIN_BORROW_CAP_EXCEEDED] = {"BORROW_CAP_EXCEEDED", "50"},
    [RISK_ONCHAIN_NOT_ENOUGH_AVAILABLE_USER_BALANCE] = {"NOT_ENOUGH_AVAILABLE_USER_BALANCE", "32"},
    [RISK_ONCHAIN_COLLATERAL_BALANCE_IS_ZERO] = {"COLLATERAL_BALANCE_IS_ZERO", "34"},
    [RISK_ONCHAIN_LTV_VALIDATION_FAILED] = {"LTV_VALIDATION_FAILED", "57"},
    [RISK_ONCHAIN_COLLATERAL_CANNOT_COVER_NEW_BORROW] = {"COLLATERAL_CANNOT_COVER_NEW_BORROW", "36"},
    [RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD] = {"HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD",
                                                                     "35"},
    [RISK_ONCHAIN_ASSET_NOT_BORROWABLE_IN_ISOLATION] = {"ASSET_NOT_BORROWABLE_IN_ISOLATION", "60"},
    [RISK_ONCHAIN_DEBT_CEILING_EXCEEDED] = {"DEBT_CEILING_EXCEEDED", "53"},
    [RISK_ONCHAIN_SILOED_BORROWING_VIOLATION] = {"SILOED_BORROWING_VIOLATION", "89"},
    [RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY] = {"INCONSISTENT_EMODE_CATEGORY", "58"},
    [RISK_ONCHAIN_NO_DEBT_OF_SELECTED_TYPE] = {"NO_DEBT_OF_SELECTED_TYPE", "39"},
    [RISK_ONCHAIN_NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF] = {"NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF", "40"},
    [RISK_ONCHAIN_UNDERLYING_BALANCE_ZERO] = {"UNDERLYING_BALANCE_ZERO", "43"},
    [RISK_ONCHAIN_USER_IN_ISOLATION_MODE_OR_LTV_ZERO] = {"USER_IN_ISOLATION_MODE_OR_LTV_ZERO", "62"},
    [RISK_ONCHAIN_INVALID_MINT_AMOUNT] = {"INVALID_MINT_AMOUNT", "24"},
    [RISK_ONCHAIN_INVALID_BURN_AMOUNT] = {"INVALID_BURN_AMOUNT", "25"},
    [RISK_ONCHAIN_HEALTH_FACTOR_NOT_BELOW_THRESHOLD] = {"HEALTH_FACTOR_NOT_BELOW_THRESHOLD", "45"},
    [RISK_ONCHAIN_COLLATERAL_CANNOT_BE_LIQUIDATED] = {"COLLATERAL_CANNOT_BE_LIQUIDATED", "46"},
    [RISK_ONCHAIN_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER] = {"SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER", "47"},
    [RISK_ONCHAIN_INSUFFICIENT_LIQUIDITY] = {"INSUFFICIENT_LIQUIDITY", NULL},
    [RISK_ONCHAIN_ARITHMETIC] = {"ARITHMETIC_OVERFLOW_OR_UNDERFLOW", NULL},
};

const char *risk_onchain_error_name(risk_onchain_err e) {
  if ((unsigned)e >= RISK_ONCHAIN__COUNT) return "UNKNOWN";
  return ONCHAIN[e].name;
}

const char *risk_onchain_error_code(risk_onchain_err e) {
  if ((unsigned)e >= RISK_ONCHAIN__COUNT) return NULL;
  return ONCHAIN[e].code;
}

/* ---------------------------------------------------------------- validation */

const struct risk_position *risk_account_find(const struct risk_account *a, uint16_t r) {
  for (uint32_t i = 0; i < a->n_positions; i++) {
    if (a->pos[i].reserve == r) return &a->pos[i];
    if (a->pos[i].reserve > r) break;
  }
  return NULL;
}

static const struct risk_position ZERO_POS;

/* What an action does besides validating: the position after it, and the totals. */
struct effect {
  struct risk_position pos; /* the user's position in act->reserve afterwards */
  u256 amount;              /* actual amount moved (withdraw all / repay capped) */
  u256 scaled;              /* scaled units minted or burned */
  bool iso_active;          /* borrow/repay: the user is in isolation mode */
  uint16_t iso_reserve;
  u256 iso_delta; /* borrow: added; repay: subtracted (clamped) */
  uint32_t new_emode;
};

static bool any_bit(const struct risk_account *a) {
  for (uint32_t i = 0; i < a->n_positions; i++)
    if (a->pos[i].collateral || a->pos[i].borrowing) return true;
  return false;
}

static bool any_borrowing(const struct risk_account *a) {
  for (uint32_t i = 0; i < a->n_positions; i++)
    if (a->pos[i].borrowing) return true;
  return false;
}

/* The isolation state before the action (getIsolationModeState). */
static void isolation_state(const struct risk_market *m, const struct risk_account *a, bool *active, uint16_t *res) {
  uint32_t n = 0;
  int first = -1;
  for (uint32_t i = 0; i < a->n_positions; i++)
    if (a->pos[i].collateral) {
      n++;
      if (first < 0) first = a->pos[i].reserve;
    }
  *active = false;
  if (n == 1 && first < (int)m->n_reserves && m->reserves[first].listed && m->reserves[first].debt_ceiling != 0) {
    *active = true;
    *res = (uint16_t)first;
  }
}

/* 10^(decimals - 2) for the isolation-mode debt; false when decimals < 2 (checked
 * subtraction reverts). */
static bool iso_unit(const struct risk_acct_reserve *r, u256 *u) {
  if (r->decimals < 2) return false;
  (void)u256_pow10(u, r->decimals - 2);
  return true;
}

static bool user_balance(const struct risk_acct_reserve *r, const struct risk_position *p, u256 *bal) {
  return ray_mul(bal, p->scaled_a, r->liquidity_index) == RISK_OK;
}

/* validateHFAndLtv after the change described by ov. */
static risk_onchain_err check_hf_and_ltv(const struct risk_market *m, const struct risk_account *a,
                                         const struct risk_eval_override *ov, const struct risk_acct_reserve *r) {
  struct risk_account_data d;
  if (risk_account_evaluate_with(m, a, ov, &d) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_lt(d.health_factor, u256_from_u64(HF_ONE)))
    return RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD;
  if (d.has_zero_ltv_collateral && r->ltv != 0) return RISK_ONCHAIN_LTV_VALIDATION_FAILED;
  return RISK_ONCHAIN_OK;
}

static risk_onchain_err v_supply(const struct risk_market *m, const struct risk_account *a,
                                 const struct risk_action *act, struct effect *fx) {
  const struct risk_acct_reserve *r = &m->reserves[act->reserve];
  u256 amt = act->amount, t;
  if (u256_is_zero(amt)) return RISK_ONCHAIN_INVALID_AMOUNT;
  if (!r->active) return RISK_ONCHAIN_RESERVE_INACTIVE;
  if (r->paused) return RISK_ONCHAIN_RESERVE_PAUSED;
  if (r->frozen) return RISK_ONCHAIN_RESERVE_FROZEN;
  if (r->supply_cap) {
    u256 cap;
    if (addx(&t, r->a_token_scaled_total_supply, r->accrued_to_treasury) || ray_mul(&t, t, r->liquidity_index) ||
        addx(&t, t, amt) || mul64(&cap, r->unit, r->supply_cap))
      return RISK_ONCHAIN_ARITHMETIC;
    if (u256_gt(t, cap)) return RISK_ONCHAIN_SUPPLY_CAP_EXCEEDED;
  }
  /* AToken.mint: rayDiv(amount, index) != 0, uint128 balances */
  if (risk_ray_div(&fx->scaled, amt, r->liquidity_index) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(fx->scaled)) return RISK_ONCHAIN_INVALID_MINT_AMOUNT;
  const struct risk_position *p = risk_account_find(a, act->reserve);
  fx->pos = p ? *p : ZERO_POS;
  fx->pos.reserve = act->reserve;
  bool first = u256_is_zero(fx->pos.scaled_a);
  if (addx(&t, fx->pos.scaled_a, fx->scaled) || u256_gt(t, U128_MAX)) return RISK_ONCHAIN_ARITHMETIC;
  fx->pos.scaled_a = t;
  fx->amount = amt;
  if (first) {
    /* validateAutomaticUseAsCollateral */
    bool ok = !(r->debt_ceiling != 0 && !act->isolated_collateral_supplier) && r->ltv != 0;
    if (ok) {
      bool any_coll = false, iso;
      uint16_t ir;
      for (uint32_t i = 0; i < a->n_positions; i++)
        any_coll |= a->pos[i].collateral;
      if (any_coll) {
        isolation_state(m, a, &iso, &ir);
        ok = !iso && r->debt_ceiling == 0;
      }
    }
    if (ok) fx->pos.collateral = true;
  }
  return RISK_ONCHAIN_OK;
}

static risk_onchain_err v_withdraw(const struct risk_market *m, const struct risk_account *a,
                                   const struct risk_action *act, struct effect *fx) {
  const struct risk_acct_reserve *r = &m->reserves[act->reserve];
  const struct risk_position *p = risk_account_find(a, act->reserve);
  fx->pos = p ? *p : ZERO_POS;
  fx->pos.reserve = act->reserve;
  u256 bal;
  if (!user_balance(r, &fx->pos, &bal)) return RISK_ONCHAIN_ARITHMETIC;
  u256 amt = is_max(act->amount) ? bal : act->amount;
  if (u256_is_zero(amt)) return RISK_ONCHAIN_INVALID_AMOUNT;
  if (u256_gt(amt, bal)) return RISK_ONCHAIN_NOT_ENOUGH_AVAILABLE_USER_BALANCE;
  if (!r->active) return RISK_ONCHAIN_RESERVE_INACTIVE;
  if (r->paused) return RISK_ONCHAIN_RESERVE_PAUSED;
  /* updateInterestRates (availableLiquidity - taken) and the underlying transfer */
  if (u256_gt(amt, r->available_liquidity)) return RISK_ONCHAIN_INSUFFICIENT_LIQUIDITY;
  if (risk_ray_div(&fx->scaled, amt, r->liquidity_index) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(fx->scaled)) return RISK_ONCHAIN_INVALID_BURN_AMOUNT;
  if (u256_gt(fx->scaled, fx->pos.scaled_a)) return RISK_ONCHAIN_ARITHMETIC;
  bool is_coll = fx->pos.collateral;
  fx->pos.scaled_a = u256_sub_wrap(fx->pos.scaled_a, fx->scaled);
  if (is_coll && u256_eq(amt, bal)) fx->pos.collateral = false;
  fx->amount = amt;
  if (is_coll && any_borrowing(a)) {
    struct risk_eval_override ov = {.pos = &fx->pos, .price_reserve = -1, .emode = -1};
    return check_hf_and_ltv(m, a, &ov, r);
  }
  return RISK_ONCHAIN_OK;
}

static risk_onchain_err v_borrow(const struct risk_market *m, const struct risk_account *a,
                                 const struct risk_action *act, struct effect *fx) {
  const struct risk_acct_reserve *r = &m->reserves[act->reserve];
  u256 amt = act->amount, t;
  if (u256_is_zero(amt)) return RISK_ONCHAIN_INVALID_AMOUNT;
  if (!r->active) return RISK_ONCHAIN_RESERVE_INACTIVE;
  if (r->paused) return RISK_ONCHAIN_RESERVE_PAUSED;
  if (r->frozen) return RISK_ONCHAIN_RESERVE_FROZEN;
  if (!r->borrowing_enabled) return RISK_ONCHAIN_BORROWING_NOT_ENABLED;
  u256 nvi = next_var_index(r);
  if (r->borrow_cap) {
    u256 cap;
    if (ray_mul(&t, r->variable_debt_scaled_total_supply, nvi) || addx(&t, t, amt) ||
        mul64(&cap, r->unit, r->borrow_cap))
      return RISK_ONCHAIN_ARITHMETIC;
    if (u256_gt(t, cap)) return RISK_ONCHAIN_BORROW_CAP_EXCEEDED;
  }
  isolation_state(m, a, &fx->iso_active, &fx->iso_reserve);
  if (fx->iso_active) {
    if (!r->borrowable_in_isolation) return RISK_ONCHAIN_ASSET_NOT_BORROWABLE_IN_ISOLATION;
    u256 iu;
    if (!iso_unit(r, &iu)) return RISK_ONCHAIN_ARITHMETIC;
    (void)divx(&fx->iso_delta, amt, iu);
    if (u256_gt(fx->iso_delta, U128_MAX)) return RISK_ONCHAIN_ARITHMETIC;
    const struct risk_acct_reserve *c = &m->reserves[fx->iso_reserve];
    if (addx(&t, c->isolation_mode_total_debt, fx->iso_delta) || u256_gt(t, U128_MAX)) return RISK_ONCHAIN_ARITHMETIC;
    if (u256_gt(t, u256_from_u64(c->debt_ceiling))) return RISK_ONCHAIN_DEBT_CEILING_EXCEEDED;
  }
  if (a->emode_category != 0 && r->emode_category != a->emode_category) return RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY;
  struct risk_account_data d;
  if (risk_account_evaluate(m, a, &d) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(d.total_collateral_base)) return RISK_ONCHAIN_COLLATERAL_BALANCE_IS_ZERO;
  if (d.avg_ltv == 0) return RISK_ONCHAIN_LTV_VALIDATION_FAILED;
  if (u256_le(d.health_factor, u256_from_u64(HF_ONE)))
    return RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD;
  u256 need;
  if (mulx(&t, r->price, amt)) return RISK_ONCHAIN_ARITHMETIC;
  t = div_unit(t, r);
  if (addx(&t, d.total_debt_base, t) || risk_percent_div(&need, t, u256_from_u64(d.avg_ltv)))
    return RISK_ONCHAIN_ARITHMETIC;
  if (u256_gt(need, d.total_collateral_base)) return RISK_ONCHAIN_COLLATERAL_CANNOT_COVER_NEW_BORROW;
  if (d.n_borrowing_bits > 0) {
    if (d.n_borrowing_bits == 1 && m->reserves[d.first_borrowed].siloed_borrowing) {
      if (d.first_borrowed != act->reserve) return RISK_ONCHAIN_SILOED_BORROWING_VIOLATION;
    } else if (r->siloed_borrowing) {
      return RISK_ONCHAIN_SILOED_BORROWING_VIOLATION;
    }
  }
  /* VariableDebtToken.mint */
  if (risk_ray_div(&fx->scaled, amt, nvi) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(fx->scaled)) return RISK_ONCHAIN_INVALID_MINT_AMOUNT;
  const struct risk_position *p = risk_account_find(a, act->reserve);
  fx->pos = p ? *p : ZERO_POS;
  fx->pos.reserve = act->reserve;
  if (addx(&t, fx->pos.scaled_debt, fx->scaled) || u256_gt(t, U128_MAX)) return RISK_ONCHAIN_ARITHMETIC;
  fx->pos.scaled_debt = t;
  fx->pos.borrowing = true;
  fx->amount = amt;
  /* updateInterestRates with liquidityTaken = amount, then transferUnderlyingTo */
  if (u256_gt(amt, r->available_liquidity)) return RISK_ONCHAIN_INSUFFICIENT_LIQUIDITY;
  return RISK_ONCHAIN_OK;
}

static risk_onchain_err v_repay(const struct risk_market *m, const struct risk_account *a,
                                const struct risk_action *act, struct effect *fx) {
  const struct risk_acct_reserve *r = &m->reserves[act->reserve];
  u256 amt = act->amount;
  if (u256_is_zero(amt)) return RISK_ONCHAIN_INVALID_AMOUNT;
  if (is_max(amt) && act->on_behalf) return RISK_ONCHAIN_NO_EXPLICIT_AMOUNT_TO_REPAY_ON_BEHALF;
  if (!r->active) return RISK_ONCHAIN_RESERVE_INACTIVE;
  if (r->paused) return RISK_ONCHAIN_RESERVE_PAUSED;
  const struct risk_position *p = risk_account_find(a, act->reserve);
  fx->pos = p ? *p : ZERO_POS;
  fx->pos.reserve = act->reserve;
  u256 debt = U256_ZERO;
  if (!u256_is_zero(fx->pos.scaled_debt) && ray_mul(&debt, fx->pos.scaled_debt, r->variable_borrow_index))
    return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(debt)) return RISK_ONCHAIN_NO_DEBT_OF_SELECTED_TYPE;
  u256 pay = u256_min(amt, debt);
  if (risk_ray_div(&fx->scaled, pay, next_var_index(r)) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(fx->scaled)) return RISK_ONCHAIN_INVALID_BURN_AMOUNT;
  if (u256_gt(fx->scaled, fx->pos.scaled_debt)) return RISK_ONCHAIN_ARITHMETIC;
  fx->pos.scaled_debt = u256_sub_wrap(fx->pos.scaled_debt, fx->scaled);
  if (u256_eq(pay, debt)) fx->pos.borrowing = false;
  fx->amount = pay;
  isolation_state(m, a, &fx->iso_active, &fx->iso_reserve);
  if (fx->iso_active) {
    u256 iu;
    if (!iso_unit(r, &iu)) return RISK_ONCHAIN_ARITHMETIC;
    (void)divx(&fx->iso_delta, pay, iu);
    if (u256_gt(fx->iso_delta, U128_MAX)) return RISK_ONCHAIN_ARITHMETIC;
  }
  return RISK_ONCHAIN_OK;
}

static risk_onchain_err v_set_collateral(const struct risk_market *m, const struct risk_account *a,
                                         const struct risk_action *act, struct effect *fx) {
  const struct risk_acct_reserve *r = &m->reserves[act->reserve];
  const struct risk_position *p = risk_account_find(a, act->reserve);
  fx->pos = p ? *p : ZERO_POS;
  fx->pos.reserve = act->reserve;
  u256 bal;
  if (!user_balance(r, &fx->pos, &bal)) return RISK_ONCHAIN_ARITHMETIC;
  if (u256_is_zero(bal)) return RISK_ONCHAIN_UNDERLYING_BALANCE_ZERO;
  if (!r->active) return RISK_ONCHAIN_RESERVE_INACTIVE;
  if (r->paused) return RISK_ONCHAIN_RESERVE_PAUSED;
  if (act->use_as_collateral == fx->pos.collateral) return RISK_ONCHAIN_OK;
  if (act->use_as_collateral) {
    /* validateUseAsCollateral */
    if (r->ltv == 0) return RISK_ONCHAIN_USER_IN_ISOLATION_MODE_OR_LTV_ZERO;
    bool any_coll = false, iso;
    uint16_t ir;
    for (uint32_t i = 0; i < a->n_positions; i++)
      any_coll |= a->pos[i].collateral;
    if (any_coll) {
      isolation_state(m, a, &iso, &ir);
      if (iso || r->debt_ceiling != 0) return RISK_ONCHAIN_USER_IN_ISOLATION_MODE_OR_LTV_ZERO;
    }
    fx->pos.collateral = true;
    return RISK_ONCHAIN_OK;
  }
  fx->pos.collateral = false;
  struct risk_eval_override ov = {.pos = &fx->pos, .price_reserve = -1, .emode = -1};
  return check_hf_and_ltv(m, a, &ov, r);
}

static risk_onchain_err v_set_emode(const struct risk_market *m, const struct risk_account *a,
                                    const struct risk_action *act, struct effect *fx) {
  uint32_t c = act->emode_category;
  if (c >= RISK_MAX_EMODE) return RISK_ONCHAIN_ARITHMETIC; /* uint8 argument: the call does not decode */
  if (c != 0 && m->emode[c].liquidation_threshold == 0) return RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY;
  fx->new_emode = c;
  if (!any_bit(a)) return RISK_ONCHAIN_OK;
  if (c != 0) {
    for (uint32_t i = 0; i < a->n_positions; i++)
      if (a->pos[i].borrowing && m->reserves[a->pos[i].reserve].emode_category != c)
        return RISK_ONCHAIN_INCONSISTENT_EMODE_CATEGORY;
  }
  if (a->emode_category != 0) {
    struct risk_eval_override ov = {.pos = NULL, .price_reserve = -1, .emode = (int)c};
    struct risk_account_data d;
    if (risk_account_evaluate_with(m, a, &ov, &d) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
    if (u256_lt(d.health_factor, u256_from_u64(HF_ONE)))
      return RISK_ONCHAIN_HEALTH_FACTOR_LOWER_THAN_LIQUIDATION_THRESHOLD;
  }
  return RISK_ONCHAIN_OK;
}

static risk_onchain_err validate(const struct risk_market *m, const struct risk_account *a,
                                 const struct risk_action *act, struct effect *fx) {
  memset(fx, 0, sizeof *fx);
  if (act->kind != RISK_ACT_SET_EMODE && act->reserve >= m->n_reserves)
    return RISK_ONCHAIN_RESERVE_INACTIVE; /* unlisted asset: empty configuration */
  if (act->kind != RISK_ACT_SET_EMODE && !m->reserves[act->reserve].listed) return RISK_ONCHAIN_RESERVE_INACTIVE;
  switch (act->kind) {
  case RISK_ACT_SUPPLY: return v_supply(m, a, act, fx);
  case RISK_ACT_WITHDRAW: return v_withdraw(m, a, act, fx);
  case RISK_ACT_BORROW: return v_borrow(m, a, act, fx);
  case RISK_ACT_REPAY: return v_repay(m, a, act, fx);
  case RISK_ACT_SET_COLLATERAL: return v_set_collateral(m, a, act, fx);
  case RISK_ACT_SET_EMODE: return v_set_emode(m, a, act, fx);
  }
  return RISK_ONCHAIN_ARITHMETIC;
}

risk_onchain_err risk_account_validate(const struct risk_market *m, const struct risk_account *a,
                                       const struct risk_action *act) {
  struct effect fx;
  return validate(m, a, act, &fx);
}

/* Writes pos into a (insert in order, replace, or drop when it is empty). */
static void put_position(struct risk_account *a, const struct risk_position *pos) {
  bool empty = !pos->collateral && !pos->borrowing && u256_is_zero(pos->scaled_a) && u256_is_zero(pos->scaled_debt);
  uint32_t i = 0;
  while (i < a->n_positions && a->pos[i].reserve < pos->reserve)
    i++;
  if (i < a->n_positions && a->pos[i].reserve == pos->reserve) {
    if (empty) {
      memmove(&a->pos[i], &a->pos[i + 1], (a->n_positions - i - 1) * sizeof a->pos[0]);
      a->n_positions--;
    } else {
      a->pos[i] = *pos;
    }
    return;
  }
  if (empty || a->n_positions >= RISK_ACCOUNT_MAX_POSITIONS) return;
  memmove(&a->pos[i + 1], &a->pos[i], (a->n_positions - i) * sizeof a->pos[0]);
  a->pos[i] = *pos;
  a->n_positions++;
}

risk_onchain_err risk_account_apply(struct risk_market *m, struct risk_account *a, const struct risk_action *act) {
  struct effect fx;
  risk_onchain_err e = validate(m, a, act, &fx);
  if (e != RISK_ONCHAIN_OK) return e;
  if (act->kind == RISK_ACT_SET_EMODE) {
    a->emode_category = fx.new_emode;
    return RISK_ONCHAIN_OK;
  }
  struct risk_acct_reserve *r = &m->reserves[act->reserve];
  switch (act->kind) {
  case RISK_ACT_SUPPLY:
    r->a_token_scaled_total_supply = u256_add_wrap(r->a_token_scaled_total_supply, fx.scaled);
    r->available_liquidity = u256_add_wrap(r->available_liquidity, fx.amount);
    break;
  case RISK_ACT_WITHDRAW:
    r->a_token_scaled_total_supply = u256_sub_wrap(r->a_token_scaled_total_supply, fx.scaled);
    r->available_liquidity = u256_sub_wrap(r->available_liquidity, fx.amount);
    break;
  case RISK_ACT_BORROW:
    /* after updateState(t) the stored index is the one just used */
    r->next_variable_borrow_index = next_var_index(r);
    if (u256_is_zero(r->variable_debt_scaled_total_supply)) r->variable_borrow_index = r->next_variable_borrow_index;
    r->variable_debt_scaled_total_supply = u256_add_wrap(r->variable_debt_scaled_total_supply, fx.scaled);
    r->available_liquidity = u256_sub_wrap(r->available_liquidity, fx.amount);
    if (fx.iso_active) {
      struct risk_acct_reserve *c = &m->reserves[fx.iso_reserve];
      c->isolation_mode_total_debt = u256_add_wrap(c->isolation_mode_total_debt, fx.iso_delta);
    }
    break;
  case RISK_ACT_REPAY:
    r->variable_debt_scaled_total_supply =
        u256_is_zero(r->variable_debt_scaled_total_supply) || u256_lt(r->variable_debt_scaled_total_supply, fx.scaled)
            ? U256_ZERO
            : u256_sub_wrap(r->variable_debt_scaled_total_supply, fx.scaled);
    r->available_liquidity = u256_add_wrap(r->available_liquidity, fx.amount);
    if (fx.iso_active) {
      struct risk_acct_reserve *c = &m->reserves[fx.iso_reserve];
      c->isolation_mode_total_debt = u256_le(c->isolation_mode_total_debt, fx.iso_delta)
                                         ? U256_ZERO
                                         : u256_sub_wrap(c->isolation_mode_total_debt, fx.iso_delta);
    }
    break;
  default: break;
  }
  put_position(a, &fx.pos);
  return RISK_ONCHAIN_OK;
}

/* ---------------------------------------------------------------- maximum amounts */

static risk_onchain_err try_amount(const struct risk_market *m, const struct risk_account *a,
                                   const struct risk_action *act, u256 amt) {
  struct risk_action x = *act;
  x.amount = amt;
  return risk_account_validate(m, a, &x);
}

/* Errors of amounts that are too small rather than too large. */
static bool small_amount_error(risk_onchain_err e) {
  return e == RISK_ONCHAIN_INVALID_MINT_AMOUNT || e == RISK_ONCHAIN_INVALID_BURN_AMOUNT ||
         e == RISK_ONCHAIN_INVALID_AMOUNT;
}

/* "amt is above the maximum": validation fails for a reason that more of the amount
 * would not cure. */
static bool too_big(const struct risk_market *m, const struct risk_account *a, const struct risk_action *act, u256 amt,
                    risk_onchain_err *err) {
  risk_onchain_err e = try_amount(m, a, act, amt);
  if (err) *err = e;
  return e != RISK_ONCHAIN_OK && !small_amount_error(e);
}

/* Largest amount in [1, hi] that is not too big, searched from the estimate est
 * (galloping, then bisection). Returns 0 when 1 is already too big. */
static u256 search_max(const struct risk_market *m, const struct risk_account *a, const struct risk_action *act,
                       u256 est, u256 hi) {
  u256 one = U256_ONE;
  if (u256_is_zero(hi)) return U256_ZERO;
  if (u256_is_zero(est)) est = one;
  if (u256_gt(est, hi)) est = hi;
  u256 lo_ok, hi_bad; /* lo_ok passes (or 0), hi_bad fails (or hi + 1 conceptually) */
  bool have_bad = false;
  if (!too_big(m, a, act, est, NULL)) {
    lo_ok = est;
    u256 step = one;
    for (;;) {
      u256 nx;
      if (u256_add(&nx, lo_ok, step) != RISK_OK || u256_gt(nx, hi)) {
        if (!too_big(m, a, act, hi, NULL)) return hi;
        hi_bad = hi;
        have_bad = true;
        break;
      }
      if (too_big(m, a, act, nx, NULL)) {
        hi_bad = nx;
        have_bad = true;
        break;
      }
      lo_ok = nx;
      step = u256_shl(step, 1);
    }
  } else {
    hi_bad = est;
    have_bad = true;
    u256 step = one;
    for (;;) {
      if (u256_le(hi_bad, step)) {
        lo_ok = U256_ZERO;
        break;
      }
      u256 nx = u256_sub_wrap(hi_bad, step);
      if (!too_big(m, a, act, nx, NULL)) {
        lo_ok = nx;
        break;
      }
      hi_bad = nx;
      step = u256_shl(step, 1);
    }
  }
  (void)have_bad;
  /* invariant: lo_ok not too big (or 0), hi_bad too big, lo_ok < hi_bad */
  for (;;) {
    u256 gap = u256_sub_wrap(hi_bad, lo_ok);
    if (u256_le(gap, one)) break;
    u256 mid = u256_add_wrap(lo_ok, u256_shr(gap, 1));
    if (too_big(m, a, act, mid, NULL))
      hi_bad = mid;
    else
      lo_ok = mid;
  }
  return lo_ok;
}

/* Closed-form estimate of the largest borrow (LTV, cap, ceiling, liquidity). */
static u256 borrow_estimate(const struct risk_market *m, const struct risk_account *a, uint16_t res) {
  const struct risk_acct_reserve *r = &m->reserves[res];
  u256 best = r->available_liquidity, t;
  struct risk_account_data d;
  if (risk_account_evaluate(m, a, &d) != RISK_OK || d.avg_ltv == 0 || u256_is_zero(r->price)) return best;
  /* percentDiv(D + X, ltv) <= C  <=>  D + X <= fl(((C+1)*ltv - fl(ltv/2) - 1) / 10000) */
  u256 lim;
  if (!addx(&lim, d.total_collateral_base, U256_ONE) && !mul64(&lim, lim, d.avg_ltv)) {
    lim = u256_sub_wrap(lim, u256_from_u64(d.avg_ltv / 2 + 1));
    lim = div64(lim, PCT);
    if (u256_lt(lim, d.total_debt_base)) return U256_ZERO;
    u256 xm = u256_sub_wrap(lim, d.total_debt_base);
    /* fl(P*A/unit) <= xm  <=>  A <= fl(((xm+1)*unit - 1) / P) */
    if (!addx(&t, xm, U256_ONE) && !mulx(&t, t, r->unit)) {
      t = u256_sub_wrap(t, U256_ONE);
      if (!divx(&t, t, r->price)) best = u256_min(best, t);
    }
  }
  if (r->borrow_cap) {
    u256 cap, tot;
    if (!mul64(&cap, r->unit, r->borrow_cap) && !ray_mul(&tot, r->variable_debt_scaled_total_supply, next_var_index(r)))
      best = u256_min(best, u256_gt(cap, tot) ? u256_sub_wrap(cap, tot) : U256_ZERO);
  }
  if (d.isolated) {
    const struct risk_acct_reserve *c = &m->reserves[d.isolation_collateral];
    u256 iu, room;
    if (iso_unit(r, &iu) && u256_le(c->isolation_mode_total_debt, u256_from_u64(c->debt_ceiling))) {
      room = u256_sub_wrap(u256_from_u64(c->debt_ceiling), c->isolation_mode_total_debt);
      if (!addx(&t, room, U256_ONE) && !mulx(&t, t, iu)) best = u256_min(best, u256_sub_wrap(t, U256_ONE));
    }
  }
  return best;
}

risk_onchain_err risk_account_max_amount(const struct risk_market *m, const struct risk_account *a,
                                         const struct risk_action *act, u256 *max, bool *unbounded) {
  *max = U256_ZERO;
  if (unbounded) *unbounded = false;
  if (act->reserve >= m->n_reserves) return RISK_ONCHAIN_RESERVE_INACTIVE;
  const struct risk_acct_reserve *r = &m->reserves[act->reserve];
  const struct risk_position *p = risk_account_find(a, act->reserve);
  u256 hi = U256_ZERO, est = U256_ZERO, t;
  switch (act->kind) {
  case RISK_ACT_SUPPLY:
    if (!r->supply_cap) {
      /* bounded only by the user's wallet and uint128 balances */
      risk_onchain_err e = try_amount(m, a, act, U256_ONE);
      if (e != RISK_ONCHAIN_OK && !small_amount_error(e)) return e;
      if (unbounded) *unbounded = true;
      *max = U256_MAX;
      return RISK_ONCHAIN_OK;
    } else {
      u256 cap, cur;
      if (mul64(&cap, r->unit, r->supply_cap) || addx(&cur, r->a_token_scaled_total_supply, r->accrued_to_treasury) ||
          ray_mul(&cur, cur, r->liquidity_index))
        return RISK_ONCHAIN_ARITHMETIC;
      hi = est = u256_gt(cap, cur) ? u256_sub_wrap(cap, cur) : U256_ZERO;
    }
    break;
  case RISK_ACT_WITHDRAW:
    if (p && ray_mul(&hi, p->scaled_a, r->liquidity_index)) return RISK_ONCHAIN_ARITHMETIC;
    hi = u256_min(hi, r->available_liquidity);
    est = hi;
    break;
  case RISK_ACT_BORROW:
    hi = r->available_liquidity;
    est = borrow_estimate(m, a, act->reserve);
    break;
  case RISK_ACT_REPAY:
    if (p && !u256_is_zero(p->scaled_debt) && ray_mul(&hi, p->scaled_debt, r->variable_borrow_index))
      return RISK_ONCHAIN_ARITHMETIC;
    est = hi;
    break;
  default: return RISK_ONCHAIN_INVALID_AMOUNT;
  }
  if (act->kind == RISK_ACT_REPAY) {
    /* a larger amount also passes (the payback is capped at the debt); what refuses the whole debt
     * (a paused or inactive reserve, no debt) refuses every amount, so then nothing passes */
    risk_onchain_err e = try_amount(m, a, act, u256_is_zero(hi) ? U256_ONE : hi);
    *max = e == RISK_ONCHAIN_OK ? hi : U256_ZERO;
    return e;
  }
  u256 best = search_max(m, a, act, est, hi);
  if (!u256_is_zero(best) && try_amount(m, a, act, best) != RISK_ONCHAIN_OK)
    best = U256_ZERO; /* only "too small" amounts below the maximum pass nothing */
  *max = best;
  if (u256_add(&t, best, U256_ONE) != RISK_OK) return RISK_ONCHAIN_ARITHMETIC;
  return try_amount(m, a, act, t);
}

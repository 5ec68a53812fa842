/* Concentration of a book (risk/concentration.h). */
#include "risk/concentration.h"

#include <string.h>

#include "risk/wadray.h"

static double d_u256(u256 a) {
  return (double)a.w[3] * 0x1p192 + (double)a.w[2] * 0x1p128 + (double)a.w[1] * 0x1p64 + (double)a.w[0];
}

double risk_conc_hhi(const struct risk_conc_side *s) {
  double t = d_u256(s->total);
  return t > 0 ? s->sum_sq / (t * t) : 0;
}

/* Adds account i's amount a to side s, keeping the top list sorted (largest first). */
static risk_err add(struct risk_conc_side *s, uint32_t top, uint32_t i, u256 a) {
  if (u256_is_zero(a)) return RISK_OK;
  risk_err e;
  if ((e = u256_add(&s->total, s->total, a))) return e;
  s->holders++;
  double d = d_u256(a);
  s->sum_sq += d * d;
  if (s->n_top == top && !u256_gt(a, s->top_amount[top - 1])) return RISK_OK;
  uint32_t at = s->n_top < top ? s->n_top++ : top - 1;
  while (at > 0 && u256_gt(a, s->top_amount[at - 1])) {
    s->top_amount[at] = s->top_amount[at - 1];
    s->top[at] = s->top[at - 1];
    at--;
  }
  s->top_amount[at] = a;
  s->top[at] = i;
  return RISK_OK;
}

risk_err risk_concentration(const struct risk_market *m, const struct risk_book *b, uint32_t top,
                            struct risk_conc_result *out) {
  memset(out, 0, sizeof *out);
  if (top < 1 || top > RISK_CONC_MAX_TOP) return RISK_INVALID;
  risk_err e;
  for (size_t i = 0; i < b->n_accounts; i++) {
    const struct risk_position *p = b->pos + b->first[i];
    size_t n = b->first[i + 1] - b->first[i];
    u256 vals[RISK_MAX_RESERVES], sumv = U256_ZERO, debt = U256_ZERO;
    for (size_t j = 0; j < n; j++) {
      const struct risk_acct_reserve *r = &m->reserves[p[j].reserve];
      struct risk_conc_reserve *cr = &out->res[p[j].reserve];
      vals[j] = U256_ZERO;
      if (!r->listed) continue;
      u256 sup = U256_ZERO, bor = U256_ZERO, v;
      if (!u256_is_zero(p[j].scaled_a) && (e = risk_ray_mul(&sup, p[j].scaled_a, r->liquidity_index))) return e;
      if (!u256_is_zero(p[j].scaled_debt) && (e = risk_ray_mul(&bor, p[j].scaled_debt, r->variable_borrow_index)))
        return e;
      if ((e = add(&cr->supply, top, (uint32_t)i, sup)) || (e = add(&cr->debt, top, (uint32_t)i, bor))) return e;
      if (p[j].collateral && r->liquidation_threshold != 0 && !u256_is_zero(sup)) {
        if ((e = u256_muldiv(&v, sup, r->price, r->unit)) ||
            (e = u256_add(&cr->collateral_base, cr->collateral_base, v)) || (e = u256_add(&sumv, sumv, v)))
          return e;
        vals[j] = v;
      }
      if (p[j].borrowing && !u256_is_zero(bor)) {
        if ((e = u256_muldiv(&v, bor, r->price, r->unit)) || (e = u256_add(&debt, debt, v))) return e;
      }
    }
    if ((e = u256_add(&out->total_debt_base, out->total_debt_base, debt))) return e;
    if (u256_is_zero(debt) || u256_is_zero(sumv)) continue;
    for (size_t j = 0; j < n; j++) {
      if (u256_is_zero(vals[j])) continue;
      u256 share;
      struct risk_conc_reserve *cr = &out->res[p[j].reserve];
      if ((e = u256_muldiv(&share, debt, vals[j], sumv)) ||
          (e = u256_add(&cr->debt_backed_base, cr->debt_backed_base, share)))
        return e;
    }
  }
  return RISK_OK;
}

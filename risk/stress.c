/* Liquidations at risk and stress scenarios over a book of accounts (risk/stress.h). */
#include "risk/stress.h"

#include <math.h>
#include <string.h>

#include "risk/wadray.h"

#define HF_ONE 1000000000000000000ull
#define BPS 10000u

u256 risk_price_after_drop(u256 price, uint32_t drop_bps) {
  if (drop_bps >= BPS) return U256_ZERO;
  u256 r = U256_ZERO;
  if (u256_muldiv(&r, price, u256_from_u64(BPS - drop_bps), u256_from_u64(BPS)) != RISK_OK) return price;
  return r;
}

/* fl(amount * price / unit) of reserve r at its price in m; RISK_OVERFLOW when it does not fit. */
static risk_err base_value(const struct risk_acct_reserve *r, u256 amount, u256 *out) {
  if (u256_is_zero(amount) || u256_is_zero(r->price)) {
    *out = U256_ZERO;
    return RISK_OK;
  }
  return u256_muldiv(out, amount, r->price, r->unit);
}

risk_err risk_liq_pick_compute(const struct risk_market *m, const struct risk_position *pos, size_t n, uint32_t emode,
                               struct risk_account *scratch, struct risk_liq_pick *out) {
  out->liquidatable = false;
  out->collateral = out->debt = 0;
  risk_err e = risk_account_evaluate_positions(m, pos, n, emode, &out->data);
  if (e) return e;
  if (u256_is_zero(out->data.total_debt_base) || !u256_lt(out->data.health_factor, u256_from_u64(HF_ONE)))
    return RISK_OK;
  u256 best_c = U256_ZERO, best_d = U256_ZERO;
  int pc = -1, pd = -1;
  for (size_t i = 0; i < n; i++) {
    const struct risk_position *p = &pos[i];
    const struct risk_acct_reserve *r = &m->reserves[p->reserve];
    if (!r->listed) continue;
    u256 bal, v;
    if (p->collateral && r->liquidation_threshold != 0 && !u256_is_zero(p->scaled_a)) {
      if ((e = risk_ray_mul(&bal, p->scaled_a, r->liquidity_index)) || (e = base_value(r, bal, &v))) return e;
      if (pc < 0 || u256_gt(v, best_c)) best_c = v, pc = p->reserve;
    }
    if (p->borrowing && !u256_is_zero(p->scaled_debt)) {
      if ((e = risk_ray_mul(&bal, p->scaled_debt, r->variable_borrow_index)) || (e = base_value(r, bal, &v))) return e;
      if (pd < 0 || u256_gt(v, best_d)) best_d = v, pd = p->reserve;
    }
  }
  if (pc < 0 || pd < 0) return RISK_OK;
  scratch->emode_category = emode;
  scratch->n_positions = (uint32_t)n;
  memcpy(scratch->pos, pos, n * sizeof *pos);
  if ((e = risk_liquidation_compute_evaluated(m, scratch, (uint16_t)pc, (uint16_t)pd, U256_MAX, &out->data, &out->liq)))
    return e;
  if (out->liq.error != RISK_ONCHAIN_OK) return RISK_OK;
  out->collateral = (uint16_t)pc;
  out->debt = (uint16_t)pd;
  out->liquidatable = true;
  return RISK_OK;
}

/* Adds the amounts of one liquidation at m to t (per reserve) and to the three base sums. */
static risk_err add_liq(const struct risk_market *m, const struct risk_liq_pick *k, struct risk_liq_totals *res,
                        u256 *coll_base, u256 *debt_base, u256 *fee_base) {
  const struct risk_acct_reserve *cr = &m->reserves[k->collateral], *dr = &m->reserves[k->debt];
  struct risk_liq_totals *c = &res[k->collateral], *d = &res[k->debt];
  u256 cb, db, fb;
  risk_err e;
  if ((e = base_value(cr, k->liq.collateral_amount, &cb)) || (e = base_value(dr, k->liq.debt_to_cover, &db)) ||
      (e = base_value(cr, k->liq.protocol_fee, &fb)))
    return e;
  if ((e = u256_add(&c->collateral_seized, c->collateral_seized, k->liq.collateral_amount)) ||
      (e = u256_add(&c->collateral_seized_base, c->collateral_seized_base, cb)) ||
      (e = u256_add(&c->protocol_fee, c->protocol_fee, k->liq.protocol_fee)) ||
      (e = u256_add(&c->protocol_fee_base, c->protocol_fee_base, fb)) ||
      (e = u256_add(&d->debt_repaid, d->debt_repaid, k->liq.debt_to_cover)) ||
      (e = u256_add(&d->debt_repaid_base, d->debt_repaid_base, db)) || (e = u256_add(coll_base, *coll_base, cb)) ||
      (e = u256_add(debt_base, *debt_base, db)) || (e = u256_add(fee_base, *fee_base, fb)))
    return e;
  return RISK_OK;
}

/* Adds account p[0..n)'s liquidation at point pt (market m) to pt; *d gets its evaluation. */
static risk_err lar_point(const struct risk_market *m, const struct risk_position *p, size_t n, uint32_t emode,
                          struct risk_account *a_scratch, struct risk_lar_point *pt, struct risk_account_data *d) {
  struct risk_liq_pick k;
  risk_err e;
  if ((e = risk_liq_pick_compute(m, p, n, emode, a_scratch, &k))) return e;
  *d = k.data;
  if (u256_is_zero(k.data.total_debt_base) || !u256_lt(k.data.health_factor, u256_from_u64(HF_ONE))) return RISK_OK;
  pt->accounts++;
  if ((e = u256_add(&pt->debt_at_risk_base, pt->debt_at_risk_base, k.data.total_debt_base))) return e;
  if (k.liquidatable &&
      (e = add_liq(m, &k, pt->res, &pt->collateral_seized_base, &pt->debt_repaid_base, &pt->protocol_fee_base)))
    return e;
  return RISK_OK;
}

risk_err risk_lar_curve(const struct risk_market *base, const struct risk_book *b,
                        const bool shocked[RISK_MAX_RESERVES], const uint32_t *drop_bps, size_t n_drops,
                        struct risk_market *m_scratch, struct risk_account *a_scratch, struct risk_lar_point *out) {
  if (n_drops == 0) return RISK_OK;
  if (n_drops > RISK_LAR_MAX_DROPS) return RISK_INVALID;
  uint32_t ord[RISK_LAR_MAX_DROPS]; /* points by drop, ascending */
  for (size_t g = 0; g < n_drops; g++) {
    if (drop_bps[g] > BPS) return RISK_INVALID;
    size_t at = g;
    while (at > 0 && drop_bps[ord[at - 1]] > drop_bps[g]) {
      ord[at] = ord[at - 1];
      at--;
    }
    ord[at] = (uint32_t)g;
    memset(&out[g], 0, sizeof out[g]);
    out[g].drop_bps = drop_bps[g];
    memcpy(&m_scratch[g], base, sizeof *base);
    for (uint32_t r = 0; r < base->n_reserves; r++)
      if (shocked[r]) m_scratch[g].reserves[r].price = risk_price_after_drop(base->reserves[r].price, drop_bps[g]);
  }
  risk_err e;
  struct risk_account_data d;
  struct risk_liq_pick k;
  for (size_t i = 0; i < b->n_accounts; i++) {
    const struct risk_position *p = b->pos + b->first[i];
    size_t n = b->first[i + 1] - b->first[i];
    bool borrows = false, monotone = true, touched = false;
    for (size_t j = 0; j < n; j++) {
      touched |= shocked[p[j].reserve];
      if (p[j].borrowing) {
        borrows = true;
        if (shocked[p[j].reserve]) monotone = false;
      }
    }
    if (!borrows) continue; /* no debt: never liquidatable */
    if (!touched) {
      /* none of its prices move: the same answer at every point */
      if ((e = risk_liq_pick_compute(&m_scratch[0], p, n, b->emode[i], a_scratch, &k))) return e;
      if (u256_is_zero(k.data.total_debt_base) || !u256_lt(k.data.health_factor, u256_from_u64(HF_ONE))) continue;
      for (size_t g = 0; g < n_drops; g++) {
        out[g].accounts++;
        if ((e = u256_add(&out[g].debt_at_risk_base, out[g].debt_at_risk_base, k.data.total_debt_base)) ||
            (k.liquidatable && (e = add_liq(&m_scratch[g], &k, out[g].res, &out[g].collateral_seized_base,
                                            &out[g].debt_repaid_base, &out[g].protocol_fee_base))))
          return e;
      }
      continue;
    }
    size_t from = 0;
    if (monotone) {
      /* Only collateral falls with the drop, so the health factor falls with it, up to the
       * rounding of the average liquidation threshold: with C the collateral at the smallest drop
       * and D the debt (base), HF(d) >= HF(d') - ((C + 1e4) * 1e14 / D + 2) for every d <= d'
       * (percentMul(C, floor(X / C)) loses less than C / 1e4). A point whose HF clears 1 by that
       * margin proves every smaller drop safe, so a binary search skips them. */
      if ((e = lar_point(&m_scratch[ord[0]], p, n, b->emode[i], a_scratch, &out[ord[0]], &d))) return e;
      from = 1;
      if (u256_is_zero(d.total_debt_base)) continue;
      u256 margin, num, limit;
      if (u256_add(&num, d.total_collateral_base, u256_from_u64(BPS)) ||
          u256_mul(&num, num, u256_from_u64(100000000000000ull)) ||
          u256_muldiv_up(&margin, num, U256_ONE, d.total_debt_base) ||
          u256_add(&limit, margin, u256_from_u64(HF_ONE + 2)))
        limit = U256_MAX; /* no shortcut */
      if (u256_ge(d.health_factor, limit)) {
        size_t lo = 1, hi = n_drops;
        struct risk_account_data dl;
        /* most accounts survive even the largest drop: one evaluation settles them */
        if ((e = risk_account_evaluate_positions(&m_scratch[ord[n_drops - 1]], p, n, b->emode[i], &dl))) return e;
        if (u256_ge(dl.health_factor, limit)) lo = hi = n_drops;
        while (lo < hi) {
          size_t mid = lo + (hi - lo) / 2;
          struct risk_account_data dm;
          if ((e = risk_account_evaluate_positions(&m_scratch[ord[mid]], p, n, b->emode[i], &dm))) return e;
          if (u256_ge(dm.health_factor, limit))
            lo = mid + 1;
          else
            hi = mid;
        }
        from = lo;
      }
    }
    for (size_t q = from; q < n_drops; q++)
      if ((e = lar_point(&m_scratch[ord[q]], p, n, b->emode[i], a_scratch, &out[ord[q]], &d))) return e;
  }
  return RISK_OK;
}

uint32_t risk_slippage_impact_bps(const struct risk_slippage *s, u256 q_base) {
  if (!s || !s->set || u256_is_zero(q_base)) return 0;
  /* q as a double: the model is an estimate, and base values far beyond 2^53 only lose digits */
  double q = ldexp((double)q_base.w[3], 192) + ldexp((double)q_base.w[2], 128) + ldexp((double)q_base.w[1], 64) +
             (double)q_base.w[0];
  double imp = s->spread_bps / 2.0 / BPS;
  if (s->depth_base > 0)
    imp += s->y * s->sigma_day * sqrt(q / s->depth_base);
  else if (s->y * s->sigma_day > 0)
    imp = 1.0; /* no depth at all: nothing is recovered */
  double bps = ceil(imp * BPS - 1e-9);
  if (!(bps > 0)) return 0;
  return bps >= BPS ? BPS : (uint32_t)bps;
}

/* Applies liquidation k to the account's positions p[0..n) as the chain leaves them: the
 * liquidator's collateral burned and the fee moved to the treasury (each rayDiv of the index),
 * the debt burned; the bits cleared when the balance is cleared. */
static risk_err apply_liq(const struct risk_market *m, struct risk_position *p, size_t n,
                          const struct risk_liq_pick *k) {
  risk_err e;
  for (size_t i = 0; i < n; i++) {
    struct risk_position *q = &p[i];
    const struct risk_acct_reserve *r = &m->reserves[q->reserve];
    if (q->reserve == k->collateral) {
      u256 burned, fee;
      if ((e = risk_ray_div(&burned, k->liq.to_liquidator, r->liquidity_index)) ||
          (e = risk_ray_div(&fee, k->liq.protocol_fee, r->liquidity_index)))
        return e;
      u256 take = u256_add_wrap(burned, fee);
      q->scaled_a = u256_gt(take, q->scaled_a) ? U256_ZERO : u256_sub_wrap(q->scaled_a, take);
      if (k->liq.clears_collateral || u256_is_zero(q->scaled_a)) q->collateral = false;
    }
    if (q->reserve == k->debt) {
      u256 burned;
      if ((e = risk_ray_div(&burned, k->liq.debt_to_cover, r->variable_borrow_index))) return e;
      q->scaled_debt = u256_gt(burned, q->scaled_debt) ? U256_ZERO : u256_sub_wrap(q->scaled_debt, burned);
      if (k->liq.clears_borrowing || u256_is_zero(q->scaled_debt)) {
        q->scaled_debt = U256_ZERO;
        q->borrowing = false;
      }
    }
  }
  return RISK_OK;
}

/* Bad debt of one account at m: max(0, debt - sum(collateral * (1 - impact))), attributed to its
 * debt reserves pro rata by value (the remainder of the floors to the largest debt). */
static risk_err account_bad_debt(const struct risk_market *m, const struct risk_position *p, size_t n,
                                 struct risk_stress_result *out, bool *insolvent) {
  u256 debt = U256_ZERO, rec = U256_ZERO, v, bal;
  risk_err e;
  *insolvent = false;
  for (size_t i = 0; i < n; i++) {
    const struct risk_acct_reserve *r = &m->reserves[p[i].reserve];
    if (!r->listed) continue;
    if (p[i].borrowing && !u256_is_zero(p[i].scaled_debt)) {
      if ((e = risk_ray_mul(&bal, p[i].scaled_debt, r->variable_borrow_index)) || (e = base_value(r, bal, &v)) ||
          (e = u256_add(&debt, debt, v)))
        return e;
    }
    if (p[i].collateral && r->liquidation_threshold != 0 && !u256_is_zero(p[i].scaled_a)) {
      uint32_t imp = out->res[p[i].reserve].slippage_bps;
      if ((e = risk_ray_mul(&bal, p[i].scaled_a, r->liquidity_index)) || (e = base_value(r, bal, &v)) ||
          (e = u256_muldiv(&v, v, u256_from_u64(BPS - imp), u256_from_u64(BPS))) || (e = u256_add(&rec, rec, v)))
        return e;
    }
  }
  if (!u256_gt(debt, rec)) return RISK_OK;
  u256 bad = u256_sub_wrap(debt, rec), given = U256_ZERO, best = U256_ZERO;
  int largest = -1;
  *insolvent = true;
  if ((e = u256_add(&out->bad_debt_base, out->bad_debt_base, bad))) return e;
  for (size_t i = 0; i < n; i++) {
    const struct risk_acct_reserve *r = &m->reserves[p[i].reserve];
    if (!r->listed || !p[i].borrowing || u256_is_zero(p[i].scaled_debt)) continue;
    u256 share;
    if ((e = risk_ray_mul(&bal, p[i].scaled_debt, r->variable_borrow_index)) || (e = base_value(r, bal, &v)) ||
        (e = u256_muldiv(&share, bad, v, debt)))
      return e;
    struct risk_stress_reserve *sr = &out->res[p[i].reserve];
    sr->bad_debt_base = u256_add_wrap(sr->bad_debt_base, share);
    given = u256_add_wrap(given, share);
    if (largest < 0 || u256_gt(v, best)) best = v, largest = p[i].reserve;
  }
  if (largest >= 0)
    out->res[largest].bad_debt_base = u256_add_wrap(out->res[largest].bad_debt_base, u256_sub_wrap(bad, given));
  return RISK_OK;
}

risk_err risk_stress_run(const struct risk_market *m, const struct risk_book *b, struct risk_position *pos,
                         const struct risk_slippage slip[RISK_MAX_RESERVES], uint32_t cascade_rounds, bool *liquidated,
                         struct risk_market *m_scratch, struct risk_account *a_scratch,
                         struct risk_stress_result *out) {
  memset(out, 0, sizeof *out);
  if (cascade_rounds >= RISK_STRESS_MAX_ROUNDS) return RISK_INVALID;
  memcpy(m_scratch, m, sizeof *m);
  memset(liquidated, 0, b->n_accounts * sizeof *liquidated);
  risk_err e;
  struct risk_liq_pick k;
  for (uint32_t round = 0; round <= cascade_rounds; round++) {
    struct risk_stress_round *rd = &out->rounds[out->n_rounds++];
    u256 q[RISK_MAX_RESERVES]; /* seized base value per collateral this round */
    memset(q, 0, sizeof q);
    u256 fee_base = U256_ZERO;
    for (size_t i = 0; i < b->n_accounts; i++) {
      struct risk_position *p = pos + b->first[i];
      size_t n = b->first[i + 1] - b->first[i];
      if ((e = risk_liq_pick_compute(m_scratch, p, n, b->emode[i], a_scratch, &k))) return e;
      if (!k.liquidatable) continue;
      u256 cb = U256_ZERO;
      if ((e = base_value(&m_scratch->reserves[k.collateral], k.liq.collateral_amount, &cb))) return e;
      {
        struct risk_stress_reserve *c = &out->res[k.collateral], *d = &out->res[k.debt];
        const struct risk_acct_reserve *dr = &m_scratch->reserves[k.debt], *cr = &m_scratch->reserves[k.collateral];
        u256 db, fb;
        if ((e = base_value(dr, k.liq.debt_to_cover, &db)) || (e = base_value(cr, k.liq.protocol_fee, &fb))) return e;
        if ((e = u256_add(&c->t.collateral_seized, c->t.collateral_seized, k.liq.collateral_amount)) ||
            (e = u256_add(&c->t.collateral_seized_base, c->t.collateral_seized_base, cb)) ||
            (e = u256_add(&c->t.protocol_fee, c->t.protocol_fee, k.liq.protocol_fee)) ||
            (e = u256_add(&c->t.protocol_fee_base, c->t.protocol_fee_base, fb)) ||
            (e = u256_add(&d->t.debt_repaid, d->t.debt_repaid, k.liq.debt_to_cover)) ||
            (e = u256_add(&d->t.debt_repaid_base, d->t.debt_repaid_base, db)) ||
            (e = u256_add(&rd->collateral_seized_base, rd->collateral_seized_base, cb)) ||
            (e = u256_add(&rd->debt_repaid_base, rd->debt_repaid_base, db)) ||
            (e = u256_add(&q[k.collateral], q[k.collateral], cb)) || (e = u256_add(&fee_base, fee_base, fb)))
          return e;
      }
      rd->accounts++;
      if (!liquidated[i]) {
        liquidated[i] = true;
        out->accounts_liquidated++;
      }
      if ((e = apply_liq(m_scratch, p, n, &k))) return e;
    }
    if ((e = u256_add(&out->collateral_seized_base, out->collateral_seized_base, rd->collateral_seized_base)) ||
        (e = u256_add(&out->debt_repaid_base, out->debt_repaid_base, rd->debt_repaid_base)))
      return e;
    for (uint32_t r = 0; r < m_scratch->n_reserves; r++) {
      if (u256_is_zero(q[r])) continue;
      uint32_t imp = risk_slippage_impact_bps(&slip[r], q[r]);
      u256 rec;
      if ((e = u256_muldiv(&rec, q[r], u256_from_u64(BPS - imp), u256_from_u64(BPS))) ||
          (e = u256_add(&out->res[r].recovery_base, out->res[r].recovery_base, rec)) ||
          (e = u256_add(&out->recovery_base, out->recovery_base, rec)))
        return e;
      out->res[r].slippage_bps = imp;
      /* the selling moves the market: the next round sees the price lowered by the impact */
      if (round < cascade_rounds)
        m_scratch->reserves[r].price = risk_price_after_drop(m_scratch->reserves[r].price, imp);
    }
    if (rd->accounts == 0) break;
  }
  for (uint32_t r = 0; r < m_scratch->n_reserves; r++)
    out->res[r].price_after = m_scratch->reserves[r].price;
  for (size_t i = 0; i < b->n_accounts; i++) {
    if (!liquidated[i]) continue;
    bool insolvent;
    if ((e = account_bad_debt(m_scratch, pos + b->first[i], b->first[i + 1] - b->first[i], out, &insolvent))) return e;
    if (insolvent) out->accounts_insolvent++;
  }
  return RISK_OK;
}
